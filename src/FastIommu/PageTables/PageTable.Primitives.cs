using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FastIommu.Formats.RiscV;

namespace FastIommu.PageTables;

// The store primitives: every store to a live table goes through these.
public sealed unsafe partial class PageTable<TMode> where TMode : struct, IPagingMode
{
    /// <summary>Sets one leaf in an entry this call checked invalid and reserved: a release store, not a CAS.</summary>
    /// <remarks>Nobody else can write the entry: hardware never writes an invalid entry (A/D updates only touch valid
    /// leaves, re-checking them atomically), and another software writer would need an overlapping concurrent call,
    /// which the contract excludes. The reservation CAS before it (a full fence) orders it after the table is known
    /// alive. A CAS here would only catch that caller bug, at the price of an atomic per map (measured ~1/4 of a
    /// single-page map).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetLeaf(ref ulong slot, ulong pte) => Volatile.Write(ref slot, pte);

    /// <summary>Clears a leaf of the caller's range: a release store. A racing hardware A/D update is a CAS against the
    /// old leaf: it lands first and is discarded with the leaf, or fails. The count decrement that follows (a full
    /// fence) orders the clear before any freeing of the table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ClearLeaf(ref ulong slot) => Volatile.Write(ref slot, 0);

    /// <summary>Stores a run of leaves <c>pte, pte + step, ...</c> into entries this call has checked invalid and
    /// reserved, with 256-bit vector stores instead of one CAS each (measured: the CAS costs ~20 cycles a PTE).</summary>
    /// <remarks>Why plain stores are enough here: the entries are invalid, so hardware never writes them (A/D
    /// updates only touch valid leaves, and re-check them atomically); other software writers would need an
    /// overlapping concurrent map, which the contract excludes; the reservation CAS before (a full fence) orders
    /// the stores after the table is known alive, and the caller's release of the call publishes them. Each 8-byte
    /// lane of an aligned vector store is single-copy atomic on x64 and Arm64, so a walker sees the old (invalid) or
    /// the new leaf, never a torn one.</remarks>
    private static void SetLeafRun(ref ulong first, int n, ulong pte, ulong step)
    {
        var ptes = Vector256.Create(pte, pte + step, pte + 2 * step, pte + 3 * step);
        var advance = Vector256.Create(4 * step);
        int i = 0;
        for (; i + 4 <= n; i += 4)
        {
            ptes.StoreUnsafe(ref first, (nuint)i);
            ptes += advance;
        }

        for (ulong tail = ptes.GetElement(0); i < n; i++, tail += step)
        {
            Volatile.Write(ref Unsafe.Add(ref first, i), tail);
        }
    }

    /// <summary>Clears the leaves among <paramref name="n"/> level-0 entries of this call's range, adds the cleared
    /// stretches to the gather and returns how many were valid. Vector stores of zero: the range is the caller's, and
    /// a racing hardware A/D update (a CAS against the old leaf) either lands first and is discarded with the leaf,
    /// or fails; the count decrement that follows (a full fence) orders the clears before any freeing.</remarks>
    private static uint ClearLeafRun(ref ulong first, int n, ulong iova, InvalidationGather? gather)
    {
        uint cleared = 0;
        ulong runStart = 0;
        ulong runBytes = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 4 <= n; i += 4)
            {
                Vector256<ulong> v = Vector256.LoadUnsafe(ref first, (nuint)i);
                uint valid = (~Vector256.Equals(v, Vector256<ulong>.Zero)).ExtractMostSignificantBits();
                if (valid == 0b1111)
                {
                    Vector256<ulong>.Zero.StoreUnsafe(ref first, (nuint)i);
                    if (runBytes == 0)
                    {
                        runStart = iova + ((ulong)i << 12);
                    }

                    runBytes += 4 << 12;
                    cleared += 4;
                    continue;
                }

                for (int lane = 0; lane < 4; lane++)
                {
                    if ((valid & (1u << lane)) != 0)
                    {
                        ClearLeaf(ref Unsafe.Add(ref first, i + lane));
                        if (runBytes == 0)
                        {
                            runStart = iova + ((ulong)(i + lane) << 12);
                        }

                        runBytes += 1 << 12;
                        cleared++;
                    }
                    else if (runBytes != 0)
                    {
                        gather?.AddRange(runStart, runBytes);
                        runBytes = 0;
                    }
                }
            }
        }

        for (; i < n; i++)
        {
            ref ulong slot = ref Unsafe.Add(ref first, i);
            if (Volatile.Read(ref slot) != 0)
            {
                ClearLeaf(ref slot);
                if (runBytes == 0)
                {
                    runStart = iova + ((ulong)i << 12);
                }

                runBytes += 1 << 12;
                cleared++;
            }
            else if (runBytes != 0)
            {
                gather?.AddRange(runStart, runBytes);
                runBytes = 0;
            }
        }

        if (runBytes != 0)
        {
            gather?.AddRange(runStart, runBytes);
        }

        return cleared;
    }

    /// <summary>Unlinks a dead table: CAS from the pointer the walk saw to 0. Returns what the entry held (the
    /// expected pointer on success). Nobody else may change that entry: see <see cref="ThrowUnlinkFailed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ClearTableEntry(ref ulong slot, ulong expected) => Interlocked.CompareExchange(ref slot, 0, expected);
}
