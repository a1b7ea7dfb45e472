using System.Runtime.InteropServices;
using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;
using FastIommu.Tests.Driver;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// Failure injection: each driver operation that takes pages runs with exactly k free pages left in the driver's
/// window (the others are taken beforehand), for k = 0, 1, ... up to the pages it needs. Every shortage must give a
/// typed error and leave the whole memory byte for byte as before, the allocator's pages in use as before, the
/// driver's state and the hardware's translations as before; with the pages it needs, the operation succeeds.
/// </summary>
[TestFixture]
public class DriverFailureInjectionTests
{
    private const ulong Window = 1UL << 20; // 256 pages: cheap to take all of them

    /// <summary>One operation under test: its bed, what is set up before, and the pages it needs.</summary>
    public sealed class Injection
    {
        private readonly string _name;
        private readonly Func<DriverBed> _bed;
        private readonly Func<DriverBed, Step> _prepare;

        internal Injection(string name, int pagesNeeded, Func<DriverBed> bed, Func<DriverBed, Step> prepare)
        {
            _name = name;
            PagesNeeded = pagesNeeded;
            _bed = bed;
            _prepare = prepare;
        }

        public int PagesNeeded { get; }

        internal DriverBed NewBed() => _bed();

        internal Step Prepare(DriverBed b) => _prepare(b);

        public override string ToString() => _name;
    }

    /// <summary>The operation, the driver state it may change (as text), the hardware's answers to some requests (as
    /// text), and a check run when it succeeded.</summary>
    internal sealed record Step(Action Operation, Func<string> State, Func<string> Probe, Action<DriverBed>? Succeeded = null);

    [TestCaseSource(nameof(Cases))]
    public void EveryShortageFailsCleanlyAndEnoughPagesSucceed(Injection injection)
    {
        for (int k = 0; k <= injection.PagesNeeded; k++)
        {
            using DriverBed bed = injection.NewBed();
            Step step = injection.Prepare(bed);
            while (bed.Allocator.PagesFree > k)
            {
                bed.Allocator.AllocatePage();
            }

            string probe = step.Probe(); // before the snapshot: a walk may set A/D or log a fault
            byte[] before = bed.Memory.GetSpan(DriverBed.MemoryBase, (int)DriverBed.MemorySize).ToArray();
            long inUse = bed.Allocator.PagesInUse;
            string state = step.State();

            Exception? error = null;
            try
            {
                step.Operation();
            }
            catch (Exception e) when (e is not AssertionException)
            {
                error = e;
            }

            if (k == injection.PagesNeeded)
            {
                Assert.That(error, Is.Null, $"{injection} with the {k} pages it needs: succeeds");
                step.Succeeded?.Invoke(bed);
                break;
            }

            Assert.That(error is OutOfPhysicalMemoryException or PageTableException { Status: MapStatus.OutOfMemory }, Is.True,
                $"{injection} with {k} free pages: a typed out-of-memory error, got {error?.GetType().Name ?? "success"}: {error?.Message}");
            Assert.That(FirstDifference(before, bed), Is.Null, $"{injection} with {k} free pages: every byte of memory as before");
            Assert.That(bed.Mmio().Read32(RegisterOffsets.Cqh), Is.EqualTo(bed.Mmio().Read32(RegisterOffsets.Cqt)), $"{injection} with {k} free pages: every command sent was executed");
            Assert.That(bed.Allocator.PagesInUse, Is.EqualTo(inUse), $"{injection} with {k} free pages: no page leaked");
            Assert.That(step.State(), Is.EqualTo(state), $"{injection} with {k} free pages: driver state as before");
            Assert.That(step.Probe(), Is.EqualTo(probe), $"{injection} with {k} free pages: the hardware translates as before");
        }
    }

    /// <summary>The first qword that changed, except where a change is no state: the command ring and the fence
    /// page of instance 0 (acquiring a PSCID/GSCID invalidates it before use, so a shortage after it leaves an
    /// executed IOTINVAL + IOFENCE.C behind; the queue is checked drained instead), and the first qword of a free
    /// page of the window (the allocator's free-list link, which nobody may read while the page is free).</summary>
    private static string? FirstDifference(byte[] before, DriverBed bed)
    {
        IommuInstance instance = bed.Instance();
        ulong ring = instance.CommandQueueBase;
        ulong ringBytes = (ulong)(1 << instance.Options.CommandQueueLog2Entries) * 16;
        ulong fence = instance.DdtRoot - PhysicalMemory.PageSize; // bring-up takes cq, fq, fence, DDT root in order
        Assert.That(instance.FaultQueueBase + PhysicalMemory.PageSize, Is.EqualTo(fence), "the bed's bring-up layout");
        ReadOnlySpan<byte> now = bed.Memory.GetSpan(DriverBed.MemoryBase, (int)DriverBed.MemorySize);
        ReadOnlySpan<ulong> nowQwords = MemoryMarshal.Cast<byte, ulong>(now);
        ReadOnlySpan<ulong> beforeQwords = MemoryMarshal.Cast<byte, ulong>(before);
        for (int q = 0; q < beforeQwords.Length; q++)
        {
            int same = nowQwords[q..].CommonPrefixLength(beforeQwords[q..]);
            q += same;
            if (q >= beforeQwords.Length)
            {
                break;
            }

            ulong pa = DriverBed.MemoryBase + ((ulong)q * 8);
            bool ignored = (pa >= ring && pa < ring + ringBytes) || pa >> 12 == fence >> 12
                || (pa % PhysicalMemory.PageSize == 0 && pa >= DriverBed.WindowBase && pa < DriverBed.WindowBase + Window && !bed.Allocator.IsAllocated(pa));
            if (!ignored)
            {
                return $"qword at PA 0x{pa:x}: 0x{beforeQwords[q]:x} -> 0x{nowQwords[q]:x}";
            }
        }

        return null;
    }

    private static string Show(TranslationResult r) => $"{r.Cause}:{r.PhysicalAddress:x}/{r.PageSize:x}";

    private static DriverBed Bed(int maxDdtLevels = 3) =>
        new(options: new IommuDriverOptions { MaxDdtLevels = maxDdtLevels }, windowSize: Window);

    public static IEnumerable<Injection> Cases()
    {
        // Table install: a map whose IOVA needs new intermediate tables (root index not yet used).
        yield return MapCase(PagingModeKind.Sv39, 0x1_0000_0000, 0x1000, 2);
        yield return MapCase(PagingModeKind.Sv48, 0x80_0000_0000, 0x1000, 3);
        yield return MapCase(PagingModeKind.Sv57, 0x1_0000_0000_0000, 0x1000, 4);
        yield return MapCase(PagingModeKind.Sv48x4, 0x80_0000_0000, 0x1000, 3);
        // Across a 1 GiB boundary: one L0 in the used GiB, L1 + L0 in the next; a shortage must not leave the first half.
        yield return MapCase(PagingModeKind.Sv39, 0x3FFF_F000, 0x2000, 3);

        // Domain creation: the root (a page, or a 16 KiB block for a G-stage x4 root).
        yield return CreateDomainCase(PagingModeKind.Sv39, 1);
        yield return CreateDomainCase(PagingModeKind.Sv48x4, 4);

        // DDT growth: a device id whose non-leaf levels are missing, joining a group on a paging domain.
        yield return AddDeviceCase(3, 0x80_0000, 2);
        yield return AddDeviceCase(2, 0x4000, 1);

        // A group attach takes bonds, no pages (its devices' DCs exist).
        yield return new Injection("Attach a group (no pages)", 0, () => Bed(), bed =>
        {
            PagingDomain d = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
            d.Map(0x1000, DriverBed.Data(1), 0x1000, DmaProtection.Read);
            DeviceGroup g = bed.Driver.CreateGroup();
            bed.Instance().AddDevice(0x1, g);
            return new Step(() => bed.Driver.Attach(g, d), () => $"{d.AttachedCount} {bed.Instance().PscidsInUse}",
                () => Show(bed.Translate(0, 0x1, 0x1000)),
                _ => Assert.That(bed.Translate(0, 0x1, 0x1000).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "attached"));
        });

        // PASID attach: PDT creation (the RID domain moves into PC 0) and growth.
        yield return PasidCase("PD8 first PASID", 8, null, 5, 1);
        yield return PasidCase("PD17 first PASID in another leaf than PC 0", 17, null, 0x1_0005, 3);
        yield return PasidCase("PD20 first PASID under another root entry", 20, null, 0xF_0005, 5);
        yield return PasidCase("PD20 growth", 20, 3u, 0xF_0005, 2);

        yield return SvaCase(8, 1);
        yield return SvaCase(20, 3);

        // A sub-device's aux domain: a PASID the driver allocates, then the PDT.
        yield return new Injection("AttachAux of a sub-device (PD8)", 1, () => Bed(), bed =>
        {
            PagingDomain pd = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
            pd.Map(0x2000, DriverBed.Data(2), 0x1000, DmaProtection.Read);
            IommuDevice dev = bed.Instance().AddDevice(0x1, pasidBits: 8);
            SubDevice sub = bed.Driver.CreateSubDevice(dev, "vf");
            return new Step(() => bed.Driver.AttachAux(sub, pd),
                () => $"{bed.Driver.PasidsInUse} {sub.Pasid} {sub.Domain} {string.Join(',', dev.AttachedPasids)} {pd.AttachedCount} {bed.Instance().PscidsInUse}",
                () => Show(bed.Translate(0, 0x1, 1, 0x2000)),
                _ => Assert.That(bed.Translate(0, 0x1, sub.Pasid!.Value, 0x2000).PhysicalAddress, Is.EqualTo(DriverBed.Data(2)), "attached"));
        });

        // Nested: creating the domain and binding a group take no pages; a new device on the nested group grows the DDT.
        yield return NestedCase("Nested create", 0, (bed, parent, _, _) => () => bed.Driver.CreateNestedDomain(parent, GuestTable));
        yield return NestedCase("Nested bind of a group", 0, (bed, _, nested, g) =>
        {
            bed.Instance().AddDevice(0x2, g);
            return () => bed.Driver.Attach(g, nested);
        });
        yield return NestedCase("Nested bind of a new device (DDT growth)", 2, (bed, _, nested, g) =>
        {
            bed.Driver.Attach(g, nested);
            return () => bed.Instance().AddDevice(0x80_0002, g);
        });

        // Bring-up: rings, fence page and DDT root.
        yield return AddInstanceCase(8, 4);
        yield return AddInstanceCase(10, 7); // a 16 KiB command ring: a block and three pages
    }

    private static readonly GuestPasidTable GuestTable = new(0x10_0000, PdtpMode.PD8, PasidTableFormat.RiscV);

    private static Injection MapCase(PagingModeKind mode, ulong iova, ulong size, int pages) =>
        new($"Map {mode} 0x{iova:x}+0x{size:x}", pages, () => Bed(), bed =>
        {
            PagingDomain d = bed.Driver.CreatePagingDomain(mode);
            d.Map(0x1000, DriverBed.Data(1), 0x1000, DmaProtection.ReadWrite);
            bed.Driver.Attach(bed.Instance().AddDevice(0x1).Group, d);
            return new Step(() => d.Map(iova, DriverBed.Data(8), size, DmaProtection.ReadWrite),
                () => $"{d.TryIovaToPhys(iova, out ulong a)} {a:x} {d.TryIovaToPhys(iova + size - 0x1000, out ulong b)} {b:x}",
                () => $"{Show(bed.Translate(0, 0x1, 0x1000))} {Show(bed.Translate(0, 0x1, iova))} {Show(bed.Translate(0, 0x1, iova + size - 0x1000))}",
                _ => Assert.That(bed.Translate(0, 0x1, iova + size - 0x1000).PhysicalAddress, Is.EqualTo(DriverBed.Data(8) + size - 0x1000), "mapped"));
        });

    private static Injection CreateDomainCase(PagingModeKind mode, int pages) =>
        new($"CreatePagingDomain {mode}", pages, () => Bed(), bed =>
        {
            PagingDomain? created = null;
            return new Step(() => created = bed.Driver.CreatePagingDomain(mode), () => $"{created}", () => "",
                _ => Assert.That(created!.Allocator.IsAllocated(created.RootAddress), Is.True, "the root is allocated"));
        });

    private static Injection AddDeviceCase(int levels, uint id, int pages) =>
        new($"AddDevice 0x{id:x} on a {levels}-level DDT", pages, () => Bed(levels), bed =>
        {
            Assert.That((int)bed.Instance().DdtMode - (int)DdtpMode.OneLevel + 1, Is.EqualTo(levels), "the DDT depth asked for");
            PagingDomain d = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
            d.Map(0x1000, DriverBed.Data(1), 0x1000, DmaProtection.Read);
            DeviceGroup g = bed.Driver.CreateGroup();
            bed.Instance().AddDevice(0x1, g);
            bed.Driver.Attach(g, d);
            return new Step(() => bed.Instance().AddDevice(id, g),
                () => $"{bed.Instance().Devices.Count} {bed.Instance().DdtPages} {g.Devices.Count} {d.AttachedCount} {bed.Instance().PscidsInUse}",
                () => $"{Show(bed.Translate(0, 0x1, 0x1000))} {Show(bed.Translate(0, id, 0x1000))}",
                _ => Assert.That(bed.Translate(0, id, 0x1000).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "the new device translates"));
        });

    private static Injection PasidCase(string name, int pasidBits, uint? existing, uint pasid, int pages) =>
        new($"AttachPasid {name}", pages, () => Bed(), bed =>
        {
            PagingDomain rid = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
            rid.Map(0x1000, DriverBed.Data(1), 0x1000, DmaProtection.Read);
            PagingDomain pd = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
            pd.Map(0x2000, DriverBed.Data(2), 0x1000, DmaProtection.Read);
            IommuDevice dev = bed.Instance().AddDevice(0x1, pasidBits: pasidBits);
            bed.Driver.Attach(dev.Group, rid);
            if (existing is uint e)
            {
                bed.Driver.AttachPasid(dev, e, pd);
            }

            return new Step(() => bed.Driver.AttachPasid(dev, pasid, pd),
                () => $"{string.Join(',', dev.AttachedPasids)} {pd.AttachedCount} {rid.AttachedCount} {bed.Instance().PscidsInUse}",
                () => $"{Show(bed.Translate(0, 0x1, 0x1000))} {Show(bed.Translate(0, 0x1, pasid, 0x2000))}",
                _ => Assert.That(bed.Translate(0, 0x1, pasid, 0x2000).PhysicalAddress, Is.EqualTo(DriverBed.Data(2)), "the PASID translates"));
        });

    private static Injection SvaCase(int pasidBits, int pages) =>
        new($"BindSva on a {pasidBits}-bit PASID device", pages, () => Bed(), bed =>
        {
            PagingDomain rid = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
            rid.Map(0x1000, DriverBed.Data(1), 0x1000, DmaProtection.Read);
            PagingDomain mm = bed.Driver.CreateAddressSpace(PagingModeKind.Sv48);
            mm.Map(0x2000, DriverBed.Data(2), 0x1000, DmaProtection.ReadWrite);
            IommuDevice dev = bed.Instance().AddDevice(0x1, pasidBits: pasidBits, features: DeviceFeatures.Sva);
            bed.Driver.Attach(dev.Group, rid);
            SvaHandle? handle = null;
            return new Step(() => handle = bed.Driver.BindSva(dev, mm),
                () => $"{bed.Driver.PasidsInUse} {mm.SvaPasid} {string.Join(',', dev.AttachedPasids)} {mm.AttachedCount} {bed.Instance().PscidsInUse}",
                () => $"{Show(bed.Translate(0, 0x1, 0x1000))} {Show(bed.Translate(0, 0x1, 1, 0x2000))}",
                _ => Assert.That(bed.Translate(0, 0x1, handle!.Pasid, 0x2000).PhysicalAddress, Is.EqualTo(DriverBed.Data(2)), "bound"));
        });

    private static Injection NestedCase(string name, int pages, Func<DriverBed, PagingDomain, NestedDomain, DeviceGroup, Action> prepare) =>
        new(name, pages, () => Bed(), bed =>
        {
            PagingDomain parent = bed.Driver.CreatePagingDomain(PagingModeKind.Sv48x4);
            parent.Map(GuestTable.PdtGpa, DriverBed.Data(4), 0x1000, DmaProtection.ReadWrite);
            parent.Map(0x1000, DriverBed.Data(1), 0x1000, DmaProtection.Read);
            IommuDevice witness = bed.Instance().AddDevice(0x1);
            bed.Driver.Attach(witness.Group, parent);
            NestedDomain nested = bed.Driver.CreateNestedDomain(parent, GuestTable);
            DeviceGroup g = bed.Driver.CreateGroup();
            Action operation = prepare(bed, parent, nested, g);
            return new Step(operation,
                () => $"{parent.AttachedCount} {nested.AttachedCount} {g.Devices.Count} {bed.Instance().Devices.Count} {bed.Instance().DdtPages} {bed.Instance().GscidsInUse}",
                () => $"{Show(bed.Translate(0, 0x1, 0x1000))} {Show(bed.Translate(0, 0x2, 0x1000))}");
        });

    private static Injection AddInstanceCase(int cqLog2, int pages) =>
        new($"AddInstance with a 2^{cqLog2}-entry command queue", pages, () => Bed(), bed =>
        {
            var hardware = new RiscVIommu(bed.Memory, Capabilities.FullRv64, null, TranslatorCacheOptions.Default);
            var mmio = new InProcessMmio(hardware);
            string Registers() => string.Join(' ', new[] { RegisterOffsets.Ddtp, RegisterOffsets.Cqb, RegisterOffsets.Fqb }
                .Select(o => $"{mmio.Read64((uint)o):x}")) + $" {mmio.Read32((uint)RegisterOffsets.Cqcsr):x} {mmio.Read32((uint)RegisterOffsets.Fqcsr):x}";
            return new Step(() => bed.Driver.AddInstance(mmio, options: new IommuDriverOptions { CommandQueueLog2Entries = cqLog2 }),
                () => $"{bed.Driver.Instances.Count} {Registers()}",
                () => Show(bed.Translate(0, 0x1, 0x1000)),
                _ => Assert.That(bed.Driver.Instances, Has.Count.EqualTo(2), "brought up"));
        });
}
