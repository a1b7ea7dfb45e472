using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// Random MMIO sequences and random command queues against <see cref="RiscVIommu"/>: every register offset, 32- and
/// 64-bit, random and structured values (queues enabled at absurd addresses, sizes, heads and tails; ddtp in every
/// mode; the debug translation interface; the MSI table), random translations in between (so the fault queue and
/// interrupts move), and command queues filled with valid commands of every opcode and with garbage. Oracles: the only
/// exception any call may throw is the documented <see cref="ArgumentOutOfRangeException"/> for a misaligned offset or
/// one past the 4 KiB page (and <see cref="ArgumentException"/> from the constructor for capabilities the model cannot
/// be); no call hangs (watchdog); queue pointers read back inside their queue; the device never reports an access
/// outside memory as done.
/// </summary>
[Category("Fuzz")]
public class DeviceFuzzTests
{
    private const ulong Base = 0x8000_0000;
    private const ulong Size = 0x4_0000; // 256 KiB: queues at random pages often land in it, sometimes straddle its end

    private static readonly uint[] Registers =
    [
        RegisterOffsets.Capabilities, RegisterOffsets.Fctl, RegisterOffsets.Ddtp, RegisterOffsets.Cqb, RegisterOffsets.Cqh,
        RegisterOffsets.Cqt, RegisterOffsets.Fqb, RegisterOffsets.Fqh, RegisterOffsets.Fqt, RegisterOffsets.Pqb, RegisterOffsets.Pqh,
        RegisterOffsets.Pqt, RegisterOffsets.Cqcsr, RegisterOffsets.Fqcsr, RegisterOffsets.Pqcsr, RegisterOffsets.Ipsr,
        RegisterOffsets.TrReqIova, RegisterOffsets.TrReqCtl, RegisterOffsets.TrResponse, RegisterOffsets.Icvec, RegisterOffsets.MsiCfgTbl,
    ];

    [Test]
    public void Random_register_sequences_and_command_queues_throw_nothing_undocumented_and_never_hang()
    {
        using var memory = PhysicalMemory.Allocate(Size, Base);
        long operations = 0, commands = 0, rejected = 0;
        FuzzBudget budget = FuzzBudget.ForTarget(3, 0xDE71_CE00);
        long cases = budget.Run("device", (_, seed) => RunCase(memory, seed, ref operations, ref commands, ref rejected));
        TestContext.Out.WriteLine($"{operations} register operations, {commands} commands written, {rejected} documented rejections");
        Assert.That(cases, Is.GreaterThan(0), "at least one case ran");
    }

    /// <summary>The same sequences while another thread translates all the time (its faults race the fault queue
    /// being enabled, disabled, moved and overflowing; its walks race IOFENCE.C and ddtp writes).</summary>
    [Test]
    public void Random_register_sequences_racing_translations_throw_nothing_undocumented_and_never_hang()
    {
        using var memory = PhysicalMemory.Allocate(Size, Base);
        long operations = 0, commands = 0, rejected = 0;
        FuzzBudget budget = FuzzBudget.ForTarget(2, 0xC0C0_0000);
        long cases = budget.Run("device-concurrent", (_, seed) => RunCase(memory, seed, ref operations, ref commands, ref rejected, concurrent: true));
        TestContext.Out.WriteLine($"{operations} register operations, {commands} commands written, {rejected} documented rejections");
        Assert.That(cases, Is.GreaterThan(0), "at least one case ran");
    }

    private static void RunCase(PhysicalMemory memory, long seed, ref long operations, ref long commands, ref long rejected,
        bool concurrent = false)
    {
        var rng = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        Span<byte> all = memory.GetSpan(Base, (int)Size);
        if (rng.Next(2) == 0)
        {
            all.Clear();
        }
        else
        {
            rng.NextBytes(all);
        }

        var access = new CountingAccess(memory);
        ulong caps = RandomCaps(rng);
        RiscVIommu device;
        try
        {
            var options = new IommuOptions { ProcessCommandsOnTailWrite = rng.Next(4) != 0, ResetToBare = rng.Next(2) == 0 };
            device = new RiscVIommu(access, new Capabilities(caps), options,
                rng.Next(2) == 0 ? TranslatorCacheOptions.Default : new TranslatorCacheOptions { IotlbEntries = 4, MicroTlbEntries = 1, DeviceContextEntries = 1, ProcessContextEntries = 1, AddressSpaces = 1 });
        }
        catch (ArgumentException)
        {
            rejected++;
            return; // documented: capabilities the model cannot be (PAS out of 12..56, IGS 3, HPM, QOSID)
        }

        int interrupts = 0;
        device.InterruptRequested = (_, _) => Interlocked.Increment(ref interrupts);
        using var done = new ManualResetEventSlim();
        Exception? racerFailure = null;
        Thread? racer = null;
        if (concurrent)
        {
            int racerSeed = rng.Next();
            racer = new Thread(() =>
            {
                var r = new Random(racerSeed);
                try
                {
                    while (!done.IsSet)
                    {
                        var request = new TranslationRequest((uint)r.Next(1 << 10), (ulong)r.NextInt64(), (AccessType)r.Next(3))
                        {
                            ProcessIdValid = r.Next(3) == 0,
                            ProcessId = (uint)r.Next(1 << 20),
                            AtsTranslationRequest = r.Next(8) == 0,
                        };
                        _ = device.Translate(in request);
                    }
                }
#pragma warning disable CA1031 // handed to the fuzz thread with the case's seed
                catch (Exception e)
#pragma warning restore CA1031
                {
                    racerFailure = e;
                }
            }) { IsBackground = true };
            racer.Start();
        }

        try
        {
            RunSteps(device, memory, rng, ref operations, ref commands, ref rejected);
        }
        finally
        {
            done.Set();
            if (racer is not null)
            {
                FuzzFailureException.Check(racer.Join(TimeSpan.FromSeconds(30)), "the translating thread hung");
            }
        }

        FuzzFailureException.Check(racerFailure is null, $"the translating thread threw: {racerFailure}");
    }

    private static void RunSteps(RiscVIommu device, PhysicalMemory memory, Random rng, ref long operations, ref long commands, ref long rejected)
    {
        int steps = 32 + rng.Next(200);
        for (int i = 0; i < steps; i++)
        {
            operations++;
            switch (rng.Next(16))
            {
                case < 6:
                    {
                        (uint offset, int width) = RandomOffset(rng, out bool bad);
                        ulong value = RandomValue(rng, offset);
                        try
                        {
                            if (width == 8)
                            {
                                device.Write64(offset, value);
                            }
                            else
                            {
                                device.Write32(offset, (uint)value);
                            }

                            FuzzFailureException.Check(!bad, $"write{width * 8} at 0x{offset:x} was accepted");
                        }
                        catch (ArgumentOutOfRangeException) when (bad)
                        {
                            rejected++;
                        }

                        break;
                    }

                case < 9:
                    {
                        (uint offset, int width) = RandomOffset(rng, out bool bad);
                        try
                        {
                            _ = width == 8 ? device.Read64(offset) : device.Read32(offset);
                            FuzzFailureException.Check(!bad, $"read{width * 8} at 0x{offset:x} was accepted");
                        }
                        catch (ArgumentOutOfRangeException) when (bad)
                        {
                            rejected++;
                        }

                        break;
                    }

                case < 12:
                    commands += WriteCommands(device, memory, rng);
                    break;
                case 12:
                    device.ProcessCommands();
                    _ = device.TakeAtsMessages();
                    break;
                case 13:
                    if (rng.Next(2) == 0)
                    {
                        EnableQueue(device, rng);
                    }
                    else
                    {
                        // A PCIe page request message of random bits (the page-request queue, enabled or not).
                        _ = device.ReportPageRequest(new PageRequest((ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1), (ulong)rng.NextInt64()));
                    }

                    break;
                default:
                    {
                        var request = new TranslationRequest((uint)rng.Next(1 << 10), (ulong)rng.NextInt64(), (AccessType)rng.Next(3))
                        {
                            ProcessIdValid = rng.Next(3) == 0,
                            ProcessId = (uint)rng.Next(1 << 20),
                            Privileged = rng.Next(2) == 0,
                            AtsTranslationRequest = rng.Next(8) == 0,
                            Translated = rng.Next(8) == 0,
                        };
                        _ = device.Translate(in request);
                        break;
                    }
            }

            CheckPointers(device);
        }
    }

    private static ulong RandomCaps(Random rng)
    {
        if (rng.Next(10) == 0)
        {
            return (ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1); // anything: accepted or ArgumentException
        }

        // version 1.0, every translation feature, IGS random (not 3), DBG random, PAS 12..56, PD modes random.
        ulong caps = 0x10 | (1UL << 9) | (1UL << 10) | (1UL << 11) | (1UL << 15) | (1UL << 17) | (1UL << 18) | (1UL << 19)
            | (1UL << 22) | (1UL << 24) | (1UL << 25) | (1UL << 26);
        caps &= (ulong)rng.NextInt64() | 0x10 | (1UL << 9) | (1UL << 17);
        caps |= (ulong)rng.Next(3) << 28;
        caps |= rng.Next(2) == 0 ? 1UL << 31 : 0;
        caps |= (ulong)(12 + rng.Next(45)) << 32;
        caps |= (ulong)rng.Next(8) << 38;
        return caps;
    }

    private static (uint Offset, int Width) RandomOffset(Random rng, out bool bad)
    {
        int width = rng.Next(2) == 0 ? 4 : 8;
        uint offset = rng.Next(8) switch
        {
            < 4 => Registers[rng.Next(Registers.Length)] + (uint)(width == 4 && rng.Next(2) == 0 ? 4 : 0),
            < 6 => (uint)rng.Next(4096) & ~(uint)(width - 1),                   // anywhere in the page, reserved included
            6 => (uint)(RegisterOffsets.MsiCfgTbl + rng.Next(256)) & ~(uint)(width - 1),
            _ => rng.Next(2) == 0 ? (uint)rng.Next() : (uint)rng.Next(4096) | 1, // past the page, or misaligned
        };
        bad = offset >= 4096 || (offset & (uint)(width - 1)) != 0;
        return (offset, width);
    }

    private static ulong RandomValue(Random rng, uint offset)
    {
        ulong random = (ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1);
        if (rng.Next(3) == 0)
        {
            return random;
        }

        ulong page = Base + ((ulong)rng.Next((int)(Size / 4096) + 2) * 4096); // in memory, or just past it
        return offset switch
        {
            RegisterOffsets.Cqb or RegisterOffsets.Fqb or RegisterOffsets.Pqb =>
                ((rng.Next(4) == 0 ? random >> 12 : page >> 12) << 10) | (uint)rng.Next(32),  // LOG2SZ-1 up to 31
            RegisterOffsets.Ddtp => ((page >> 12) << 10) | (uint)rng.Next(16),
            RegisterOffsets.Cqcsr or RegisterOffsets.Fqcsr or RegisterOffsets.Pqcsr => (uint)rng.Next(4) | ((uint)rng.Next(8) << 8),
            RegisterOffsets.Cqt or RegisterOffsets.Cqh or RegisterOffsets.Fqh or RegisterOffsets.Pqh => (uint)rng.Next(1 << rng.Next(1, 20)),
            RegisterOffsets.TrReqCtl => 1 | ((ulong)rng.Next(1 << 24) << 40) | ((ulong)rng.Next(1 << 20) << 12) | (uint)rng.Next(16) << 1,
            _ => random,
        };
    }

    private static void EnableQueue(RiscVIommu device, Random rng)
    {
        (int b, int csr) = rng.Next(3) switch
        {
            0 => (RegisterOffsets.Cqb, RegisterOffsets.Cqcsr),
            1 => (RegisterOffsets.Fqb, RegisterOffsets.Fqcsr),
            _ => (RegisterOffsets.Pqb, RegisterOffsets.Pqcsr),
        };
        device.Write32((uint)csr, 0);
        ulong page = rng.Next(4) == 0 ? (ulong)rng.NextInt64(1L << 44) << 12 : Base + ((ulong)rng.Next((int)(Size / 4096)) * 4096);
        device.Write64((uint)b, ((page >> 12) << 10) | (uint)rng.Next(rng.Next(4) == 0 ? 32 : 8));
        device.Write32((uint)csr, 1 | (rng.Next(2) == 0 ? 2u : 0));
    }

    /// <summary>Valid commands of every opcode with random operands, and garbage, at cqt; then cqt moves past them.</summary>
    private static int WriteCommands(RiscVIommu device, PhysicalMemory memory, Random rng)
    {
        ulong cqb = device.Read64(RegisterOffsets.Cqb);
        ulong queue = ((cqb >> 10) & ((1UL << 44) - 1)) << 12;
        uint entries = 1u << (int)((cqb & 0x1F) + 1);
        uint tail = device.Read32(RegisterOffsets.Cqt);
        int count = 1 + rng.Next(8);
        for (int i = 0; i < count; i++)
        {
            Command c = RandomCommand(rng);
            ulong slot = queue + ((ulong)((tail + (uint)i) & (entries - 1)) * 16);
            if (memory.Contains(slot, 16))
            {
                memory.Qword(slot) = c.Dword0;
                memory.Qword(slot + 8) = c.Dword1;
            }
        }

        device.Write32(RegisterOffsets.Cqt, (uint)((tail + (uint)count) & (entries - 1)));
        return count;
    }

    private static Command RandomCommand(Random rng)
    {
        ulong address = rng.Next(2) == 0 ? Base + ((ulong)rng.Next((int)(Size / 8)) * 8) : (ulong)rng.NextInt64() & ~3UL;
        bool B() => rng.Next(2) == 0;
        return rng.Next(9) switch
        {
            0 => Command.IotinvalVma(B(), (uint)rng.Next(1 << 16), B(), (uint)rng.Next(1 << 20), B(), address & ~0xFFFUL),
            1 => Command.IotinvalGvma(B(), (uint)rng.Next(1 << 16), B(), address & ~0xFFFUL),
            2 => Command.IofenceC(B(), B(), B(), B(), address, (uint)rng.Next()),
            3 => Command.IodirInvalDdt(B(), (uint)rng.Next(1 << 24)),
            4 => Command.IodirInvalPdt((uint)rng.Next(1 << 24), (uint)rng.Next(1 << 20)),
            5 => Command.AtsInval((ushort)rng.Next(1 << 16), B(), (uint)rng.Next(1 << 20), B(), (byte)rng.Next(256), B(), B(), address),
            6 => Command.AtsPrgr((ushort)rng.Next(1 << 16), B(), (uint)rng.Next(1 << 20), B(), (byte)rng.Next(256), (uint)rng.Next(512), (uint)rng.Next(16)),
            7 => new Command(((ulong)rng.NextInt64() << 7) | (uint)rng.Next(1, 5), (ulong)rng.NextInt64()), // a known opcode, random rest
            _ => new Command((ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1), (ulong)rng.NextInt64()),
        };
    }

    /// <summary>While a queue is on, its head and tail read back inside it. (While it is off, the pointer the IOMMU
    /// owns keeps whatever it held under an earlier, larger fqb or cqb: the spec's fqt/cqh are RO 31:0, zeroed when the
    /// queue is enabled, and no record or command moves them meanwhile.)</summary>
    private static void CheckPointers(RiscVIommu device)
    {
        (uint B, uint H, uint T, uint Csr)[] queues =
        [
            (RegisterOffsets.Cqb, RegisterOffsets.Cqh, RegisterOffsets.Cqt, RegisterOffsets.Cqcsr),
            (RegisterOffsets.Fqb, RegisterOffsets.Fqh, RegisterOffsets.Fqt, RegisterOffsets.Fqcsr),
        ];
        foreach ((uint b, uint h, uint t, uint csr) in queues)
        {
            if ((device.Read32(csr) & (1u << 16)) == 0)
            {
                continue; // off
            }

            ulong entries = 1UL << (int)((device.Read64(b) & 0x1F) + 1);
            uint head = device.Read32(h), tail = device.Read32(t);
            FuzzFailureException.Check(head < entries && tail < entries,
                $"queue at 0x{b:x}: head {head} / tail {tail} outside a queue of {entries} entries");
        }
    }
}
