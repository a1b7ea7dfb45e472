using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware.Caches;
using FastIommu.Memory;
using static FastIommu.Hardware.SpecBits;

namespace FastIommu.Hardware;

/// <summary>The batch translation (<see cref="IommuTranslator.Translate(ReadOnlySpan{TranslationRequest}, Span{TranslationResult})"/>):
/// each request translated as alone, with the leaf PTE of a request a few places ahead prefetched, so the memory
/// latency of several walks overlaps.</summary>
/// <remarks>
/// <para>Why: at a realistic working set (a device's DMA over gigabytes) a miss waits on the leaf PTE, which no CPU
/// cache holds, and one translation is too long for the CPU to start the next one's loads under that wait. A batch
/// knows the next requests, so it reads their walks' upper levels (usually in the CPU's caches) and prefetches the
/// leaf's line.</para>
/// <para>What is prefetched: for an untranslated request without process_id whose DC is cached and translates by its
/// first stage alone (the common miss) and whose page the micro-TLB entry does not hold, the leaf PTE's line.
/// Nothing else.</para>
/// <para>Exactness: a prefetch reads, never writes, and what it reads decides only which line to prefetch; the
/// translations and every cache's contents are exactly those of single calls in the same order. It reads table
/// memory unvalidated, maybe a page a driver is freeing: a stale value gives a useless prefetch, nothing more
/// (every read is inside the memory, and a prefetch instruction never faults). Only flat memory
/// (<see cref="PhysicalMemoryAccess"/>) is read: an <see cref="IMemoryAccess"/> of the caller is never called for a
/// prefetch.</para>
/// </remarks>
internal sealed partial class TranslatorEngine<TMemory, TCount>
{
    public override void TranslateBatch(ReadOnlySpan<TranslationRequest> requests, Span<TranslationResult> results)
    {
        const int distance = TranslatorEngine.PrefetchDistance;
        int n = requests.Length;
        PrefetchPlan plan = PrefetchPlan.None;
        for (int i = 0; i < Math.Min(distance, n); i++)
        {
            Prefetch(in requests[i], ref plan);
        }

        for (int i = 0; i < n; i++)
        {
            if (i + distance < n)
            {
                Prefetch(in requests[i + distance], ref plan);
            }

            TranslateInto(in requests[i], ref results[i]);
        }
    }

    /// <summary>One request of a batch, its result copied field by field (<see cref="TranslationResult.CopyTo"/>).
    /// Out of line: inlined, the translation used up the batch loop's inlining budget, and the prefetch and the
    /// copy stayed calls.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TranslateInto(in TranslationRequest request, ref TranslationResult result) => Translate(in request).CopyTo(ref result);

    /// <summary>Prefetches the leaf PTE of <paramref name="request"/>'s walk (see the class remarks), with the DC and
    /// memory of <paramref name="plan"/> (looked up again when the device changes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(in TranslationRequest request, ref PrefetchPlan plan)
    {
        if (!WalksEndThemselves || request.AtsTranslationRequest || request.Translated || request.ProcessIdValid)
        {
            return;
        }

        uint deviceId = request.DeviceId;
        if (deviceId != plan.DeviceId)
        {
            plan.DeviceId = deviceId;
            PhysicalMemory memory = FlatMemory;
            plan.Base = memory.BaseAddressUnchecked;
            plan.Limit = memory.SizeUnchecked - 8;
            plan.Spread = MicroTlb.Spread(MicroTlb.RequesterKey(deviceId, 0));
            if (deviceId >= Volatile.Read(ref HitDeviceLimit) || !Dir.TryGetDcMiss(deviceId, out plan.Slot, out _, out plan.Fsc, out _))
            {
                plan.Fsc = 0;
            }
        }

        // The host address read again for each prefetch, as each access of a walk reads it: a memory disposed
        // during a batch (a misuse: see PhysicalMemory) is then not read a whole batch later.
        ulong iova = request.Iova;
        plan.Host = FlatMemory.HostOrNull;
        if (plan.Fsc == 0 || plan.Host == null || (Micro is { } micro && micro.PrefetchHolds(MicroTlb.PageKey(iova, false), MicroTlb.RequesterKey(deviceId, 0), plan.Spread)))
        {
            return;
        }

        PrefetchLeaf(ref plan, iova);
        if (Tlb is { } tlb && plan.Slot >= 0)
        {
            tlb.Prefetch(plan.Slot, iova);
        }
    }

    /// <summary>The flat memory of an engine over <see cref="PhysicalMemoryAccess"/> (<see cref="WalksEndThemselves"/>).</summary>
    private PhysicalMemory FlatMemory
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Unsafe.As<TMemory, PhysicalMemoryAccess>(ref Unsafe.AsRef(in _memory)).Memory;
    }

    /// <summary>Reads the non-leaf levels of the first-stage table (the plan's iosatp) for
    /// <paramref name="iova"/> and prefetches the last level's PTE; stops at anything but a valid non-leaf PTE, or an
    /// address outside the memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe void PrefetchLeaf(ref PrefetchPlan plan, ulong iova)
    {
        ulong fsc = plan.Fsc;
        int level = (int)(fsc >> AtpModeShift) - 8 + Sv39.Levels - 1; // Sv39 8, Sv48 9, Sv57 10: the root's level
        ulong table = (fsc & AtpPpn) << 12;
        for (; level > 0; level--)
        {
            ulong offset = table + (((iova >> (12 + (9 * level))) & 511) << 3) - plan.Base;
            if (offset > plan.Limit)
            {
                return;
            }

            ulong pte = *(ulong*)(plan.Host + offset);
            if ((pte & Pte.V) == 0 || (pte & Pte.RwxMask) != 0)
            {
                return; // invalid, or a superpage leaf whose line the read just brought in
            }

            table = (pte & Pte.PpnMask) >> Pte.PpnShift << 12;
        }

        ulong leaf = table + (((iova >> 12) & 511) << 3) - plan.Base;
        if (leaf <= plan.Limit && Sse.IsSupported)
        {
            Sse.Prefetch0(plan.Host + leaf);
        }
    }
}

/// <summary>What a prefetch needs of a device's cached DC, kept across a batch: a batch's requests mostly come
/// from one device, and looking its DC up again for each request cost as much as the prefetch saved. A hint may
/// use a stale copy (a DC invalidated during the batch): it prefetches useless lines, nothing more.</summary>
internal struct PrefetchPlan
{
    /// <summary>No device yet: the first prefetch looks its DC up.</summary>
    public static PrefetchPlan None => new() { DeviceId = uint.MaxValue };

    public uint DeviceId;   // uint.MaxValue: none yet
    public ulong Fsc;       // the DC's single-stage iosatp (TryGetDcMiss), 0: nothing to prefetch
    public int Slot;        // its first stage's address-space slot (TryGetDcMiss), -1: none
    public unsafe byte* Host; // the memory's host address of Base (read for each prefetch), null once disposed
    public ulong Base;
    public ulong Limit;     // the memory's size - 8: the last offset a PTE read may take
    public uint Spread;     // MicroTlb.Spread of the device's requester key
}
