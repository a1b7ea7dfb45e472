using System.Runtime.InteropServices;
using FastIommu.Driver;
using FastIommu.Formats.RiscV;

namespace FastIommu.Native;

/// <summary>fastiommu_instance_options in fastiommu.h (32 bytes); a zero field keeps the default.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct InstanceOptionsNative
{
    public uint StructSize;
    public uint CommandQueueLog2;
    public uint FaultQueueLog2;
    public uint MaxDdtLevels;
    public uint CommandTimeoutMs;
    public uint Reserved;
    public ulong PageInvalidationLimit;
}

/// <summary>fastiommu_counters in fastiommu.h (88 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CountersNative
{
    public fixed ulong Commands[8];
    public ulong Syncs;
    public ulong Fences;
    public ulong PagesFreed;
}

// The driver layer: driver, instances, groups, devices (fastiommu.h "driver").
internal static unsafe partial class NativeExports
{
    // fastiommu_device_add features
    public const uint FeatureSva = 1, FeatureAts = 2;

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_driver_create")]
    public static NativeStatus DriverCreate(ulong allocator, ulong* driver)
    {
        try
        {
            if (driver == null)
            {
                return NullArgument("driver");
            }

            AllocatorObject? a = HandleTable.Find<AllocatorObject>(allocator);
            if (a is null)
            {
                return BadHandle("allocator", allocator);
            }

            return Publish(new DriverObject(new IommuDriver(a.Allocator)) { Lender = a }, driver);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_driver_destroy")]
    public static NativeStatus DriverDestroy(ulong driver) => Destroy<DriverObject>(driver);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_instance_create_mmio")]
    public static NativeStatus InstanceCreateMmio(ulong driver, MmioCallbacks* mmio, InstanceOptionsNative* options, ulong* instance)
    {
        try
        {
            if (mmio == null || instance == null)
            {
                return NullArgument(mmio == null ? "mmio" : "instance");
            }

            if (mmio->Read32 == null || mmio->Read64 == null || mmio->Write32 == null || mmio->Write64 == null)
            {
                return Fail(NativeStatus.InvalidArgument, "Every function of fastiommu_mmio_callbacks must be set.");
            }

            DriverObject? d = HandleTable.Find<DriverObject>(driver);
            if (d is null)
            {
                return BadHandle("driver", driver);
            }

            IommuDriverOptions? o = DriverOptions(options);
            IommuInstance created = d.Driver.AddInstance(new CallbackMmio(in *mmio), options: o);
            return PublishInstance(created, d, second: null, instance);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_instance_create_device")]
    public static NativeStatus InstanceCreateDevice(ulong driver, ulong iommu, InstanceOptionsNative* options, ulong* instance)
    {
        try
        {
            if (instance == null)
            {
                return NullArgument("instance");
            }

            DriverObject? d = HandleTable.Find<DriverObject>(driver);
            if (d is null)
            {
                return BadHandle("driver", driver);
            }

            IommuObject? i = HandleTable.Find<IommuObject>(iommu);
            if (i is null)
            {
                return BadHandle("iommu", iommu);
            }

            IommuDriverOptions? o = DriverOptions(options);
            IommuInstance created = d.Driver.AddInstance(new InProcessMmio(i.Device), options: o);
            return PublishInstance(created, d, i, instance);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static NativeStatus PublishInstance(IommuInstance created, DriverObject driver, NativeObject? second, ulong* instance) =>
        Publish(new InstanceObject(created) { Lender = driver, SecondLender = second }, instance);

    private static IommuDriverOptions? DriverOptions(InstanceOptionsNative* options)
    {
        if (options == null)
        {
            return null;
        }

        if (options->StructSize < (uint)sizeof(InstanceOptionsNative))
        {
            throw new ArgumentException(
                $"options->struct_size {options->StructSize} is below {sizeof(InstanceOptionsNative)}: set it to sizeof(fastiommu_instance_options).");
        }

        IommuDriverOptions basis = IommuDriverOptions.Default;
        return basis with
        {
            CommandQueueLog2Entries = options->CommandQueueLog2 == 0 ? basis.CommandQueueLog2Entries : (int)Math.Min(options->CommandQueueLog2, 64u),
            FaultQueueLog2Entries = options->FaultQueueLog2 == 0 ? basis.FaultQueueLog2Entries : (int)Math.Min(options->FaultQueueLog2, 64u),
            MaxDdtLevels = options->MaxDdtLevels == 0 ? basis.MaxDdtLevels : (int)Math.Min(options->MaxDdtLevels, 64u),
            CommandTimeout = options->CommandTimeoutMs == 0 ? basis.CommandTimeout : TimeSpan.FromMilliseconds(options->CommandTimeoutMs),
            PageInvalidationLimit = options->PageInvalidationLimit == 0 ? basis.PageInvalidationLimit : options->PageInvalidationLimit,
        };
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_instance_destroy")]
    public static NativeStatus InstanceDestroy(ulong instance) => Destroy<InstanceObject>(instance);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_instance_counters")]
    public static NativeStatus InstanceCounters(ulong instance, CountersNative* counters)
    {
        try
        {
            InstanceObject? i = HandleTable.Find<InstanceObject>(instance);
            if (i is null)
            {
                return BadHandle("instance", instance);
            }

            if (counters == null)
            {
                return NullArgument("counters");
            }

            IommuCounters c = i.Instance.Counters;
            for (int k = 0; k < 8; k++)
            {
                counters->Commands[k] = (ulong)c.Commands((CommandKind)k);
            }

            counters->Syncs = (ulong)c.Syncs;
            counters->Fences = (ulong)c.Fences;
            counters->PagesFreed = (ulong)c.PagesFreedAfterSync;
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_instance_sync")]
    public static NativeStatus InstanceSync(ulong instance)
    {
        try
        {
            InstanceObject? i = HandleTable.Find<InstanceObject>(instance);
            if (i is null)
            {
                return BadHandle("instance", instance);
            }

            i.Instance.Sync();
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_instance_read_faults")]
    public static NativeStatus InstanceReadFaults(ulong instance, FaultRecord* records, uint capacity, uint* count)
    {
        try
        {
            InstanceObject? i = HandleTable.Find<InstanceObject>(instance);
            if (i is null)
            {
                return BadHandle("instance", instance);
            }

            if (count == null || (records == null && capacity != 0))
            {
                return NullArgument(count == null ? "count" : "records");
            }

            *count = (uint)i.Instance.ReadFaults(new Span<FaultRecord>(records, (int)Math.Min(capacity, int.MaxValue)));
            return NativeStatus.Ok;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_group_create")]
    public static NativeStatus GroupCreate(ulong driver, byte* name, ulong* group)
    {
        try
        {
            if (group == null)
            {
                return NullArgument("group");
            }

            DriverObject? d = HandleTable.Find<DriverObject>(driver);
            if (d is null)
            {
                return BadHandle("driver", driver);
            }

            string? text = name == null ? null : Marshal.PtrToStringUTF8((nint)name);
            return Publish(new GroupObject(d.Driver.CreateGroup(text)) { Lender = d }, group);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_group_destroy")]
    public static NativeStatus GroupDestroy(ulong group) => Destroy<GroupObject>(group);

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_device_add")]
    public static NativeStatus DeviceAdd(ulong instance, uint deviceId, ulong group, uint pasidBits, uint features, ulong* device)
    {
        try
        {
            if (device == null)
            {
                return NullArgument("device");
            }

            InstanceObject? i = HandleTable.Find<InstanceObject>(instance);
            if (i is null)
            {
                return BadHandle("instance", instance);
            }

            GroupObject? g = HandleTable.Find<GroupObject>(group);
            if (g is null)
            {
                return BadHandle("group", group);
            }

            if ((features & ~(FeatureSva | FeatureAts)) != 0 || pasidBits > 20)
            {
                return Fail(NativeStatus.InvalidArgument, $"features 0x{features:x} has unknown bits, or pasid_bits {pasidBits} is above 20.");
            }

            IommuDevice created = i.Instance.AddDevice(deviceId, g.Group, (int)pasidBits, (DeviceFeatures)features);
            return Publish(new DeviceObject(created) { Lender = i, SecondLender = g }, device);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "fastiommu_device_release")]
    public static NativeStatus DeviceRelease(ulong device) => Destroy<DeviceObject>(device);

    /// <summary>Hot unplug: <see cref="IommuInstance.RemoveDevice"/>, then the handle is released.</summary>
    [UnmanagedCallersOnly(EntryPoint = "fastiommu_device_remove")]
    public static NativeStatus DeviceRemove(ulong device)
    {
        try
        {
            DeviceObject? o = HandleTable.Find<DeviceObject>(device);
            if (o is null)
            {
                return BadHandle("device", device);
            }

            o.Device.Instance.RemoveDevice(o.Device);
            return Destroy<DeviceObject>(device);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static NativeStatus Destroy<T>(ulong handle) where T : NativeObject
    {
        try
        {
            return HandleTable.Remove<T>(handle);
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }
}
