using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Reliability;

/// <summary>
/// Randomized input at scale against the translator: random directories, contexts and tables (valid, almost valid,
/// garbage; <see cref="ScenarioGenerator"/>) and random requests of every kind. Oracles, on every request:
/// <list type="bullet">
/// <item>the outcome is a <see cref="TranslationResult"/>: no exception, no hang (watchdog), no access outside memory
/// reported as done; a fault's cause is one of the spec's; a success has the IOVA's page offset and a power-of-two
/// page size;</item>
/// <item>differential: the cached translator (every cache on, sometimes tiny so entries are replaced) returns field
/// for field what an uncached one walking the same memory returns, three times in a row (walk, IOTLB hit, micro-TLB
/// hit), with random invalidation commands in between; and after a random store into the tables followed by a full
/// invalidation;</item>
/// <item>reference: on a valid scenario, an untranslated request without process_id gets exactly what the
/// generator's own record of the mappings says (a tiny two-stage walk over that record, written here, that knows
/// nothing of the translator).</item>
/// </list>
/// </summary>
[Category("Fuzz")]
public class TranslationFuzzTests
{
    private sealed class Stats
    {
        public long Requests, Successes, Faults, ReferenceChecked, ReferenceSuccesses, Skipped, RandomCaps, Targeted;
        public readonly long[] Kinds = new long[3];
    }

    [Test]
    public void Random_tables_and_requests_give_a_spec_result_equal_to_the_uncached_walk_and_the_reference()
    {
        using var memory = PhysicalMemory.Allocate(ScenarioGenerator.Size, ScenarioGenerator.Base);
        var stats = new Stats();
        FuzzBudget budget = FuzzBudget.ForTarget(4, 0x5EED_0000);
        long cases = budget.Run("translation", (_, seed) => RunCase(memory, seed, stats));
        TestContext.Out.WriteLine($"requests {stats.Requests}: {stats.Successes} successes, {stats.Faults} faults; scenarios valid/almost/garbage " +
            $"{stats.Kinds[0]}/{stats.Kinds[1]}/{stats.Kinds[2]} ({stats.RandomCaps} with random capabilities); reference-checked {stats.ReferenceChecked} ({stats.ReferenceSuccesses} successes); " +
            $"not compared (memory moved) {stats.Skipped}; leaf changes with their own invalidation {stats.Targeted}");
        Assert.Multiple(() =>
        {
            Assert.That(cases, Is.GreaterThan(0), "at least one case ran");
            Assert.That(stats.ReferenceSuccesses, Is.GreaterThan(0), "the reference check saw successful translations (the generator makes reachable mappings)");
        });
    }

    private static void RunCase(PhysicalMemory memory, long seed, Stats stats)
    {
        var gen = new ScenarioGenerator(memory, seed);
        gen.Generate();
        Random rng = gen.Rng;
        stats.Kinds[(int)gen.Kind]++;
        var access = new CountingAccess(memory);
        TranslatorCacheOptions options = rng.Next(3) == 0
            ? new TranslatorCacheOptions { IotlbEntries = 4, MicroTlbEntries = 2, DeviceContextEntries = 1, ProcessContextEntries = 1, AddressSpaces = 1 }
            : TranslatorCacheOptions.Default;
        // One case in 16 has capabilities and fctl of random bits: whatever the register says, the walk must hold up.
        var caps = new Capabilities(rng.Next(16) == 0 ? (ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1) : gen.Caps);
        var fctl = new Fctl(rng.Next(16) == 0 ? (uint)rng.Next() : 0);
        // The cached translator over PhysicalMemory directly (the specialised fast path, as embedders use it) two
        // times in three, else through the interface. Its own stores need no counting: it walks memory the uncached
        // one has just walked, so it can only store where that one stored first.
        IommuTranslator cached = rng.Next(3) != 0 ? new IommuTranslator(memory, caps, options) : new IommuTranslator(access, caps, options);
        cached.Ddtp = new Ddtp(gen.Ddtp);
        Log($"caches {(ReferenceEquals(options, TranslatorCacheOptions.Default) ? "default" : "tiny")}, caps 0x{caps.Value:x}, ddtp 0x{gen.Ddtp:x}");
        cached.Fctl = fctl;
        var uncached = new IommuTranslator(access, caps, TranslatorCacheOptions.Uncached) { Ddtp = new Ddtp(gen.Ddtp), Fctl = fctl };
        if (caps.Value != gen.Caps)
        {
            stats.RandomCaps++;
        }
        bool valid = gen.Kind == ScenarioKind.Valid && !gen.Overflowed && caps.Value == gen.Caps && fctl.Value == 0;
        bool pristine = true;
        (GeneratedDevice Device, GeneratedLeaf Leaf) focus = default;
        int focusLeft = 0;
        long writes = access.Writes;
        int requests = 16 + rng.Next(48);
        for (int i = 0; i < requests; i++)
        {
            int roll = rng.Next(100);
            if (roll < 15)
            {
                RandomInvalidation(cached, rng);
            }
            else if (roll < 22 && pristine && TargetedChange(gen, memory, cached, rng, out var changed))
            {
                focus = changed;
                focusLeft = 4;
                // A leaf changed, followed by exactly the invalidation the spec asks for: no flush of anything else.
                valid = false;
                stats.Targeted++;
            }
            else if (roll < 25)
            {
                // A store into the tables, then everything the spec offers to forget it: IODIR.INVAL_DDT DV=0,
                // IOTINVAL.GVMA GV=0, IOTINVAL.VMA GV=0 PSCV=0 (host spaces), or InvalidateAll.
                // Mostly a qword the scenario uses (a context, a table entry), so the change matters.
                ulong at = gen.StructureAddresses.Count > 0 && rng.Next(4) != 0
                    ? gen.StructureAddresses[rng.Next(gen.StructureAddresses.Count)]
                    : ScenarioGenerator.Base + ((ulong)rng.Next((int)(ScenarioGenerator.Size / 8)) * 8);
                memory.Qword(at) ^= 1UL << rng.Next(64);
                valid = false;
                pristine = false; // the generator's record of contexts and ids no longer holds
                if (rng.Next(2) == 0)
                {
                    cached.InvalidateAll();
                }
                else
                {
                    cached.InvalidateDdt(false, 0);
                    cached.InvalidateGvma(false, 0, false, 0);
                    cached.InvalidateVma(false, 0, false, 0, false, 0);
                }
            }

            // Right after a leaf change, requests go to that leaf's first pages (and so to what was cached from it).
            TranslationRequest request = focusLeft-- > 0 && rng.Next(2) == 0
                ? new TranslationRequest(focus.Device!.Id, focus.Leaf.Va + ((ulong)rng.Next(0x4000) & ~7UL), (AccessType)rng.Next(3))
                : RandomRequest(gen, rng);
            TranslationResult expected = uncached.Translate(in request);
            Log($"{Describe(request)}: {expected}");
            CheckShape(request, expected);
            stats.Requests++;
            if (expected.Success) { stats.Successes++; } else { stats.Faults++; }

            bool moved = false;
            for (int repeat = 0; repeat < 3; repeat++)
            {
                TranslationResult actual = cached.Translate(in request);
                Log($"  cached {actual}");
                CheckShape(request, actual);
                moved |= access.Writes != writes;
                if (!moved)
                {
                    FuzzFailureException.Check(Same(expected, actual),
                        $"request {Describe(request)} (repeat {repeat}): cached {actual}, uncached {expected}");
                }
            }

            if (moved)
            {
                // A/D updates (or a write into what another structure also uses): the cached translator may hold what
                // it read before, as hardware may. Forget everything and compare from the next request on.
                cached.InvalidateAll();
                writes = access.Writes;
                stats.Skipped++;
                continue;
            }

            if (valid && Reference.Applies(gen, request, out GeneratedDevice? device))
            {
                stats.ReferenceChecked++;
                bool ok = Reference.Translate(device!, request.Iova, request.Access, out ulong pa, out FaultCause cause);
                if (ok)
                {
                    stats.ReferenceSuccesses++;
                }

                FuzzFailureException.Check(expected.Success == ok && (ok ? expected.PhysicalAddress == pa : expected.Cause == cause),
                    $"request {Describe(request)}: translator {expected}, reference {(ok ? $"PA 0x{pa:x}" : $"fault {(int)cause}")}");
            }
        }
    }

    /// <summary>Changes one leaf a device without PDT uses (cleared, moved, other permissions, U cleared) and sends
    /// the one command that covers it: IOTINVAL.VMA AV=1 at some address of the leaf in the device's space (PSCV=0
    /// for a global leaf), or IOTINVAL.GVMA AV=1 for a G-stage leaf. The cached translator must then agree with the
    /// uncached one again.</summary>
    private static bool TargetedChange(ScenarioGenerator gen, PhysicalMemory memory, IommuTranslator cached, Random rng,
        out (GeneratedDevice Device, GeneratedLeaf Leaf) focus)
    {
        focus = default;
        if (gen.Kind != ScenarioKind.Valid || gen.Overflowed || gen.Devices.Count == 0)
        {
            return false; // mutated tables may share pages between devices: one command would not cover them
        }

        GeneratedDevice device = gen.Devices[rng.Next(gen.Devices.Count)];
        if (device.Leaves.Count == 0)
        {
            return false;
        }

        GeneratedLeaf leaf = device.Leaves[rng.Next(device.Leaves.Count)];
        focus = (device, leaf);
        if (!leaf.GStage || device.FsLevels == 0)
        {
            // The device uses the mapping's first pages before the driver changes it (so the caches hold them).
            for (ulong p = 0; p < 4 && p << 12 < leaf.Size; p++)
            {
                _ = cached.Translate(new TranslationRequest(device.Id, leaf.Va + (p << 12), AccessType.Read));
            }
        }

        ulong value = memory.Qword(leaf.Entry);
        memory.Qword(leaf.Entry) = rng.Next(4) switch
        {
            0 => 0,
            1 => (value & 0x3FF) | (((ulong)rng.NextInt64(1L << 28) * (leaf.Size >> 12)) << 10),
            2 => (value & ~0xEUL) | (new ulong[] { 0b0010, 0b0110, 0b1010, 0b1110 }[rng.Next(4)]),
            _ => value & ~0x10UL,
        };
        ulong address = leaf.Va + ((ulong)rng.NextInt64((long)(leaf.Size >> 12)) << 12);
        Log($"DC at 0x{device.DcAddress:x}: " + string.Join(" ", Enumerable.Range(0, 8).Select(i => $"0x{memory.Qword(device.DcAddress + ((ulong)i * 8)):x}")));
        Log($"leaf at 0x{leaf.Entry:x} ({(leaf.GStage ? "G" : "first")} stage, va 0x{leaf.Va:x} size 0x{leaf.Size:x}) of device 0x{device.Id:x}: 0x{value:x} -> 0x{memory.Qword(leaf.Entry):x}; invalidate at 0x{address:x}");
        if (leaf.GStage)
        {
            cached.InvalidateGvma(true, device.Gscid, true, address);
        }
        else
        {
            bool global = (value & 0x20) != 0;
            cached.InvalidateVma(device.GsLevels != 0, device.Gscid, !global, device.Pscid, true, address);
        }

        return true;
    }

    /// <summary>FASTIOMMU_FUZZ_TRACE=1 prints each step of a case (for a replayed seed).</summary>
    private static readonly bool Trace = Environment.GetEnvironmentVariable("FASTIOMMU_FUZZ_TRACE") == "1";

    private static void Log(string line)
    {
        if (Trace)
        {
            TestContext.Progress.WriteLine(line);
        }
    }

    private static readonly FaultCause[] SpecCauses = Enum.GetValues<FaultCause>();

    /// <summary>What any result must look like, whatever the input.</summary>
    internal static void CheckShape(in TranslationRequest request, in TranslationResult r)
    {
        if (r.Success && r.Cause == FaultCause.None)
        {
            FuzzFailureException.Check(r.PageSize >= 4096 && (r.PageSize & (r.PageSize - 1)) == 0,
                $"request {Describe(request)}: success with page size 0x{r.PageSize:x}");
            FuzzFailureException.Check(request.AtsTranslationRequest || ((r.PhysicalAddress ^ request.Iova) & 0xFFF) == 0,
                $"request {Describe(request)}: success {r} does not keep the page offset");
        }
        else if (r.Success)
        {
            // ATS: a page fault, guest-page fault, PDT entry not valid or MSI PTE not valid answered with R = W = 0.
            FuzzFailureException.Check(request.AtsTranslationRequest && !r.Readable && !r.Writable
                && (FaultCauses.IsPageFault(r.Cause) || FaultCauses.IsGuestPageFault(r.Cause)
                    || r.Cause is FaultCause.PdtEntryNotValid or FaultCause.MsiPteNotValid),
                $"request {Describe(request)}: a success carrying cause {(int)r.Cause}: {r}");
        }
        else
        {
            FuzzFailureException.Check(r.Cause != FaultCause.None && Array.IndexOf(SpecCauses, r.Cause) >= 0,
                $"request {Describe(request)}: fault with cause {(int)r.Cause}, not one of the spec's");
        }
    }

    private static bool Same(in TranslationResult a, in TranslationResult b) =>
        a.Success == b.Success && a.Cause == b.Cause && a.PhysicalAddress == b.PhysicalAddress && a.PageSize == b.PageSize
        && a.Readable == b.Readable && a.Writable == b.Writable && a.Executable == b.Executable && a.Iotval == b.Iotval
        && a.Iotval2 == b.Iotval2 && a.Ttyp == b.Ttyp && a.MemoryType == b.MemoryType
        && a.FaultReportSuppressed == b.FaultReportSuppressed;

    internal static string Describe(in TranslationRequest r) =>
        $"did 0x{r.DeviceId:x} pid {(r.ProcessIdValid ? $"0x{r.ProcessId:x}" : "-")} iova 0x{r.Iova:x} {r.Access}" +
        $"{(r.Privileged ? " priv" : "")}{(r.AtsTranslationRequest ? " ATS" : "")}{(r.Translated ? " translated" : "")}";

    private static TranslationRequest RandomRequest(ScenarioGenerator gen, Random rng)
    {
        GeneratedDevice? device = gen.Devices.Count > 0 && rng.Next(8) != 0 ? gen.Devices[rng.Next(gen.Devices.Count)] : null;
        // Any 24-bit device_id (a wider one is refused by TranslationRequest itself: see HardwareBadInputTests).
        uint did = device?.Id ?? (rng.Next(2) == 0 ? (uint)rng.Next(256) : (uint)rng.Next(1 << 24));
        ulong iova = rng.Next(4) switch
        {
            0 or 1 when device is not null && device.Fs.Count > 0 => Inside(device.Fs[rng.Next(device.Fs.Count)], rng),
            0 or 1 when device is not null && device.Gs.Count > 0 => Inside(device.Gs[rng.Next(device.Gs.Count)], rng),
            2 when device is { Msi: true } => ((device.MsiPattern | ((ulong)rng.NextInt64() & device.MsiMask)) << 12) | ((ulong)rng.Next(1024) * 4),
            2 => (ulong)rng.NextInt64(1L << 41),
            _ => (ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1),
        };
        var request = new TranslationRequest(did, iova, (AccessType)rng.Next(3));
        if (rng.Next(3) == 0)
        {
            request.ProcessIdValid = true;
            request.ProcessId = device is { ProcessIds.Count: > 0 } && rng.Next(4) != 0
                ? device.ProcessIds[rng.Next(device.ProcessIds.Count)]
                : rng.Next(2) == 0 ? (uint)rng.Next(4) : (uint)rng.Next(1 << 21);
            request.Privileged = rng.Next(2) == 0;
        }

        int type = rng.Next(10);
        request.AtsTranslationRequest = type == 0;
        request.Translated = type == 1;
        return request;
    }

    /// <summary>An address in a mapping: half the time in its first 16 KiB (where superpages over small G-stage pages
    /// have their pieces).</summary>
    private static ulong Inside(GeneratedMapping m, Random rng) =>
        m.Va + ((ulong)rng.NextInt64((long)Math.Min(m.Size, rng.Next(2) == 0 ? 0x4000UL : 1UL << 30)) & ~7UL);

    private static void RandomInvalidation(IommuTranslator t, Random rng)
    {
        switch (rng.Next(7))
        {
            case 0:
                t.InvalidateVma(rng.Next(2) == 0, (ushort)rng.Next(1 << 16), rng.Next(2) == 0, (uint)rng.Next(1 << 20), rng.Next(2) == 0,
                    (ulong)rng.NextInt64() & ~0xFFFUL);
                break;
            case 1:
                t.InvalidateGvma(rng.Next(2) == 0, (ushort)rng.Next(1 << 16), rng.Next(2) == 0, (ulong)rng.NextInt64() & ~0xFFFUL);
                break;
            case 2:
                t.InvalidateDdt(rng.Next(2) == 0, (uint)rng.Next(1 << 24));
                break;
            case 3:
                t.InvalidatePdt((uint)rng.Next(1 << 24), (uint)rng.Next(1 << 20));
                break;
            case 4:
                t.Fence();
                break;
            case 5:
                t.InvalidateAll();
                break;
            default:
                t.InvalidateVma(false, 0, rng.Next(2) == 0, (uint)rng.Next(4), true, (ulong)rng.NextInt64(1L << 40) & ~0xFFFUL);
                break;
        }
    }

    /// <summary>The reference: the generator's record of what it mapped, walked by the privileged spec's rules for
    /// a user-mode request (no process_id) through at most two stages. Knows nothing of tables or caches.</summary>
    private static class Reference
    {
        public static bool Applies(ScenarioGenerator gen, in TranslationRequest request, out GeneratedDevice? device)
        {
            device = null;
            if (request.ProcessIdValid || request.AtsTranslationRequest || request.Translated)
            {
                return false;
            }

            foreach (GeneratedDevice d in gen.Devices)
            {
                if (d.Id == request.DeviceId && !d.Pdtv && !d.Msi)
                {
                    device = d;
                    return true;
                }
            }

            return false;
        }

        public static bool Translate(GeneratedDevice d, ulong iova, AccessType access, out ulong pa, out FaultCause cause)
        {
            pa = 0;
            ulong gpa = iova;
            if (d.FsLevels != 0)
            {
                int bits = 12 + (9 * d.FsLevels);
                long top = (long)iova >> (bits - 1);
                if ((top != 0 && top != -1) || !Find(d.Fs, iova, access, user: true, out gpa))
                {
                    cause = access switch { AccessType.Read => FaultCause.ReadPageFault, AccessType.Write => FaultCause.WritePageFault, _ => FaultCause.InstructionPageFault };
                    return false;
                }
            }

            ulong spa = gpa;
            if (d.GsLevels != 0)
            {
                int bits = 14 + (9 * d.GsLevels);
                if ((gpa >> bits) != 0 || !Find(d.Gs, gpa, access, user: true, out spa))
                {
                    cause = access switch { AccessType.Read => FaultCause.ReadGuestPageFault, AccessType.Write => FaultCause.WriteGuestPageFault, _ => FaultCause.InstructionGuestPageFault };
                    return false;
                }
            }

            pa = spa;
            cause = FaultCause.None;
            return true;
        }

        private static bool Find(List<GeneratedMapping> maps, ulong va, AccessType access, bool user, out ulong pa)
        {
            foreach (GeneratedMapping m in maps)
            {
                if (va - m.Va < m.Size)
                {
                    ulong need = access switch { AccessType.Read => 2UL, AccessType.Write => 4UL, _ => 8UL };
                    bool ok = (m.Flags & need) != 0 && (!user || (m.Flags & 0x10) != 0);
                    pa = m.Pa + (va - m.Va);
                    return ok;
                }
            }

            pa = 0;
            return false;
        }
    }
}
