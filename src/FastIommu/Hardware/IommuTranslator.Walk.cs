using System.Runtime.CompilerServices;
using FastIommu.Diagnostics;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware.Caches;
using static FastIommu.Hardware.SpecBits;

namespace FastIommu.Hardware;

// The walk of "Process to translate an IOVA": steps 17 to 19 (the first stage, each of its PTE addresses through
// the G-stage, the MSI address test and MSI translation, the final G-stage), with every PTE check and fault of the
// spec's "Process to translate addresses of a VS-stage" and "G-stage address translation". The fast paths and the
// full process that call it are in IommuTranslator.Engine.cs.
internal sealed partial class TranslatorEngine<TMemory, TCount>
{
    private bool Dispatch(uint fsMode, uint gMode, ref Walk w) => fsMode switch
    {
        8 => DispatchG<Sv39>(gMode, ref w),
        9 => DispatchG<Sv48>(gMode, ref w),
        10 => DispatchG<Sv57>(gMode, ref w),
        _ => DispatchG<BareStage>(gMode, ref w),
    };

    private bool DispatchG<TFs>(uint gMode, ref Walk w) where TFs : struct, IPagingMode => gMode switch
    {
        8 => TranslateStages<TFs, Sv39x4>(ref w),
        9 => TranslateStages<TFs, Sv48x4>(ref w),
        10 => TranslateStages<TFs, Sv57x4>(ref w),
        _ => TranslateStages<TFs, BareStage>(ref w),
    };

    /// <summary>Steps 17 and 19: the privileged spec's two-stage translation.</summary>
    private bool TranslateStages<TFs, TGs>(ref Walk w) where TFs : struct, IPagingMode where TGs : struct, IPagingMode
    {
        if (TFs.Levels != 0)
        {
            if (!WalkFirstStage<TFs, TGs>(ref w))
            {
                return false;
            }
        }
        else
        {
            w.Gpa = w.Iova;
            w.FsShift = 63;
            w.FsPerms = w.FsEffective = Iotlb.R | Iotlb.W | Iotlb.X;
            w.FsDirty = true;
            w.FsUser = false;
            w.FsGlobal = false;
            w.FsPbmt = 0;
        }

        // Step 18: a GPA that names a virtual interrupt file goes through the MSI page table instead of the G-stage.
        if ((w.Msiptp >> AtpModeShift) == 1 && IsMsiAddress(ref w, w.Gpa))
        {
            return TranslateMsi(ref w);
        }

        if (TGs.Levels != 0)
        {
            if (!GStage<TGs>(ref w, w.Gpa, ExplicitAccess, out ulong spa, out int shift, out uint perms, out bool dirty))
            {
                return false;
            }

            w.Pa = spa;
            w.GsShift = shift;
            w.GsPerms = perms;
            w.GsDirty = dirty;
        }
        else
        {
            w.Pa = w.Gpa;
            w.GsShift = 63;
            w.GsPerms = Iotlb.R | Iotlb.W | Iotlb.X;
            w.GsDirty = true;
            w.GsPbmt = 0;
        }

        return true;
    }

    /// <summary>True when some 4 KiB page of the naturally aligned 2^<paramref name="shift"/> GPA range holding
    /// <paramref name="gpa"/> is in the MSI window: the page-number bits above the range's own agree with the
    /// pattern wherever the mask does not free them.</summary>
    private static bool MsiWindowMeets(ref Walk w, ulong gpa, int shift) =>
        (((gpa >> 12) ^ w.MsiPattern) & ~w.MsiMask & ~((1UL << (shift - 12)) - 1)) == 0;

    /// <summary>"MSI address mask and pattern": (A &gt;&gt; 12) &amp; ~mask == pattern &amp; ~mask.</summary>
    private static bool IsMsiAddress(ref Walk w, ulong gpa) =>
        ((gpa >> 12) & ~w.MsiMask) == (w.MsiPattern & ~w.MsiMask);

    /// <summary>The spec's "Process to translate addresses of MSIs" for a flat MSI page table, basic translate
    /// mode (MRIF mode is not modelled and is treated as misconfigured).</summary>
    private bool TranslateMsi(ref Walk w)
    {
        w.NoCache = true;
        ulong gpa = w.Gpa;

        // Step 5: interrupt file number I = extract(A >> 12, msi_addr_mask).
        ulong file = 0;
        ulong page = gpa >> 12;
        ulong mask = w.MsiMask & ((1UL << 52) - 1);
        for (int bit = 0; mask != 0; mask &= mask - 1)
        {
            int position = System.Numerics.BitOperations.TrailingZeroCount(mask);
            file |= ((page >> position) & 1) << bit++;
        }

        // Steps 6, 7: msipte = 16 bytes at (msiptp.PPN x 2^12) | (I x 16); an access fault is cause 261.
        ulong ptePa = ((w.Msiptp & AtpPpn) << 12) | (file << 4);
        if (!_memory.TryRead64(ptePa, out ulong pte0) || !_memory.TryRead64(ptePa + 8, out ulong pte1))
        {
            return MsiFault(ref w, FaultCause.MsiPteLoadAccessFault);
        }

        // Step 9: V = 0: "MSI PTE not valid".
        if ((pte0 & 1) == 0)
        {
            return MsiFault(ref w, FaultCause.MsiPteNotValid);
        }

        // Steps 10 to 13: C = 1 (implementation-defined, none here), M = 0 or 2, reserved bits of basic mode
        // (9:3, 62:54 and the second doubleword), and MRIF mode (M = 1, not modelled) are "MSI PTE misconfigured".
        uint m = (uint)(pte0 >> 1) & 3;
        const ulong BasicReserved = 0x3F8UL | (0x1FFUL << 54);
        if ((pte0 >> 63) != 0 || m != 3 || (pte0 & BasicReserved) != 0 || pte1 != 0)
        {
            return MsiFault(ref w, FaultCause.MsiPteMisconfigured);
        }

        // Step 15: permissions of a G-stage leaf with R = W = U = 1, X = 0: a read for execute is cause 1.
        if (w.Access == AccessType.Execute && !w.Ats)
        {
            return MsiFault(ref w, FaultCause.InstructionAccessFault);
        }

        // Step 13.2: the translated address msipte.PPN << 12 | A[11:0].
        w.Pa = (((pte0 & NonLeafPpn) >> NonLeafPpnShift) << 12) | (gpa & 0xFFF);
        w.GsShift = 12;
        w.GsPerms = Iotlb.R | Iotlb.W;
        w.GsDirty = true;
        w.GsPbmt = 0;
        return true;
    }

    private static bool MsiFault(ref Walk w, FaultCause cause)
    {
        w.Cause = cause;
        w.Iotval2 = 0;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool PageFault(ref Walk w)
    {
        // Page fault of the original access type: instruction 12, load 13, store/AMO 15.
        w.Cause = OfAccess(w.Access, FaultCause.InstructionPageFault, FaultCause.ReadPageFault, FaultCause.WritePageFault);
        w.Iotval2 = 0;
        return false;
    }

    private static bool GuestPageFault(ref Walk w, ulong gpa, int implicitBits)
    {
        // Guest-page fault of the original access type (20/21/23). iotval2[63:2] = GPA[63:2]; bit 0: implicit
        // access for first-stage translation (PTE or PDT read); bit 1: that implicit access was a write.
        w.Cause = OfAccess(w.Access, FaultCause.InstructionGuestPageFault, FaultCause.ReadGuestPageFault, FaultCause.WriteGuestPageFault);
        w.Iotval2 = (gpa & ~3UL) | (uint)implicitBits;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AccessFault(ref Walk w)
    {
        // A PTE that is not in memory: access fault of the original access type (1/5/7).
        w.Cause = OfAccess(w.Access, FaultCause.InstructionAccessFault, FaultCause.ReadAccessFault, FaultCause.WriteAccessFault);
        w.Iotval2 = 0;
        return false;
    }

    /// <summary>The spec's page, guest-page and access faults come in (instruction, read, write) triples;
    /// a write here includes AMOs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static FaultCause OfAccess(AccessType access, FaultCause execute, FaultCause read, FaultCause write) =>
        access switch
        {
            AccessType.Execute => execute,
            AccessType.Read => read,
            _ => write,
        };

    /// <summary>Reserved encodings that make any PTE a fault (privileged spec, step 3 of the walk): V = 0,
    /// W without R, bits 60:54, PBMT without Svpbmt.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool BadPte(ulong raw, bool svpbmt) =>
        (raw & Pte.V) == 0
        || (raw & (Pte.R | Pte.W)) == Pte.W
        || (raw & Pte.ReservedMask) != 0
        || (!svpbmt && (raw & Pte.PbmtMask) != 0);

    /// <summary>Non-leaf PTE: D, A, U, PBMT and N are reserved (privileged spec, Svpbmt, Svnapot).</summary>
    private const ulong NonLeafReservedPte = Pte.D | Pte.A | Pte.U | Pte.PbmtMask | Pte.N;

    /// <summary>The bits a valid pointer to the next level has clear, V aside: R, W, X, what step 3 reserves in any PTE
    /// (60:54, PBMT) and what step 4 reserves in a non-leaf one (D, A, U, PBMT, N). (raw &amp; mask) == V holds
    /// exactly for the PTEs steps 3 and 4 take as a pointer, with or without Svpbmt.</summary>
    private const ulong PointerPteMask = Pte.V | Pte.RwxMask | Pte.ReservedMask | NonLeafReservedPte;

    /// <summary>The bits a common 4 KiB leaf has set for a user-level <paramref name="access"/>: V, R, U, A, and W with
    /// D for a write or X for an execute (an execute-only page is not common). With <see cref="CommonLeafClear"/>
    /// clear, steps 3 to 8 of either stage accept it as it is: no fault, no A/D update.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong CommonLeafBits(AccessType access) =>
        Pte.V | Pte.R | Pte.U | Pte.A
        | (access == AccessType.Write ? Pte.W | Pte.D : access == AccessType.Execute ? Pte.X : 0);

    /// <summary>The bits a common leaf has clear: N (NAPOT), PBMT and the reserved bits 60:54.</summary>
    private const ulong CommonLeafClear = Pte.N | Pte.PbmtMask | Pte.ReservedMask;

    /// <summary>Leaf encodings that are reserved: PBMT = 3; N outside level 0 or with PPN[3:0] != 1000b (only
    /// 64 KiB NAPOT exists).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool BadLeaf(ulong raw, int level) =>
        (raw & Pte.PbmtMask) == Pte.PbmtMask
        || ((raw & Pte.N) != 0 && (level != 0 || ((raw >> Pte.PpnShift) & 0xF) != 8));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool MisalignedSuperpage(ulong raw, int level) =>
        level > 0 && ((raw >> Pte.PpnShift) & ((1UL << (9 * level)) - 1)) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TableAddress(ulong raw) => (raw & Pte.PpnMask) << 2;

    /// <summary>First-stage walk (privileged spec "Virtual Address Translation Process"), every PTE address a GPA
    /// translated by the G-stage as an implicit access when the G-stage is not Bare.</summary>
    private bool WalkFirstStage<TFs, TGs>(ref Walk w) where TFs : struct, IPagingMode where TGs : struct, IPagingMode =>
        WalkFirstStageInline<TFs, TGs>(ref w);

    /// <summary>The body of <see cref="WalkFirstStage{TFs, TGs}"/>, inlined where the walk state is a local whose
    /// address goes nowhere else (<see cref="TranslateFirstStage{TFs, TCheck}"/>): RyuJIT then keeps its fields in registers
    /// (about 10 % of a miss, measured).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool WalkFirstStageInline<TFs, TGs>(ref Walk w) where TFs : struct, IPagingMode where TGs : struct, IPagingMode
    {
        ulong iova = w.Iova;
        // VA bits above the mode's width must all equal its top bit.
        if (!PagingMode<TFs>.IsCanonical(iova))
        {
            return PageFault(ref w);
        }

        // Steps 3 to 8 for the common 4 KiB leaf of a user request (no supervisor privilege) in one test
        // (CommonLeafBits). Exactly the level-0 PTEs the steps below turn into a translation without a fault or an A/D
        // update, for an ATS request too (its permissions are then the PTE's), so the outcome is theirs; any other
        // leaf (a superpage, NAPOT, a PBMT, an execute-only page, A or D to set) takes them one by one. A supervisor
        // request never matches (need is all ones).
        ulong leafNeed = CommonLeafBits(w.Access);
        ulong leafMask = leafNeed | CommonLeafClear;
        if (w.Supervisor)
        {
            leafNeed = ulong.MaxValue;
        }

    restart:
        // Step 1: a = satp.ppn x PAGESIZE, i = LEVELS - 1.
        ulong table = w.FsRoot;
        for (int level = TFs.Levels - 1; level >= 0; level--)
        {
            // Step 2: pte = the PTE at a + va.vpn[i] x PTESIZE (a GPA under a G-stage: implicit read).
            ulong pteGpa = table + ((ulong)PagingMode<TFs>.Index(iova, level) << 3);
            ulong ptePa = pteGpa;
            if (TGs.Levels != 0 && !GStage<TGs>(ref w, pteGpa, ImplicitRead, out ptePa, out _, out _, out _))
            {
                return false;
            }

            if (!_memory.TryRead64(ptePa, out ulong raw))
            {
                return AccessFault(ref w);
            }

            // A first-stage walk has read a PTE (tests hold a walk here, with the entry in hand, to race a fence).
            if (Interleaving.Enabled)
            {
                Interleaving.Reach("Translator.PteRead");
            }

            // Steps 3 and 4 for the common PTE above the leaf, in one test: V = 1, R = W = X = 0 and none of the bits
            // either step reserves (60:54, PBMT, N, D, A, U). Exactly the PTEs the steps below accept as a pointer to
            // the next level, so the outcome is theirs; any other PTE takes them one by one, for its exact cause. (A
            // pointer at level 0 ends the loop, whose exit is step 4's page fault.)
            if ((raw & PointerPteMask) == Pte.V)
            {
                table = TableAddress(raw);
                continue;
            }

            if (level == 0 && (raw & leafMask) == leafNeed)
            {
                // Step 8 for that leaf: U = 1 and a user request, so the effective permissions are the PTE's own.
                w.Gpa = TableAddress(raw) | (iova & 0xFFF);
                w.FsShift = 12;
                w.FsPerms = w.FsEffective = (uint)(raw >> Pte.RBit) & 7;
                w.FsUser = true;
                w.FsGlobal = (raw & Pte.G) != 0;
                w.FsDirty = (raw & Pte.D) != 0;
                w.FsPbmt = 0;
                w.FsLeaf = raw;
                return true;
            }

            // Step 3: invalid or reserved encodings.
            if (BadPte(raw, w.Svpbmt))
            {
                return PageFault(ref w);
            }

            // Step 4: a pointer to the next level.
            if ((raw & Pte.RwxMask) == 0)
            {
                if ((raw & NonLeafReservedPte) != 0 || level == 0)
                {
                    return PageFault(ref w);
                }

                table = TableAddress(raw);
                continue;
            }

            if (BadLeaf(raw, level))
            {
                return PageFault(ref w);
            }

            // Step 5: permissions. U-mode requests need U = 1; supervisor ones need U = 0, or SUM and no execute.
            uint perms = (uint)(raw >> Pte.RBit) & 7;
            bool user = (raw & Pte.U) != 0;
            uint effective = perms;
            if (user)
            {
                if (w.Supervisor)
                {
                    effective = w.Sum ? perms & ~Iotlb.X : 0;
                }
            }
            else if (!w.Supervisor)
            {
                effective = 0;
            }

            if (!w.Ats && (effective & NeedBit(w.Access)) == 0)
            {
                return PageFault(ref w);
            }

            // Step 6: misaligned superpage.
            if (MisalignedSuperpage(raw, level))
            {
                return PageFault(ref w);
            }

            // Step 7: A (and D for a write) must be set, or set atomically when DC.tc.SADE = 1.
            bool write = w.Access == AccessType.Write && (!w.Ats || (effective & Iotlb.W) != 0);
            ulong needAd = Pte.A | (write ? Pte.D : 0);
            if ((raw & needAd) != needAd && !(w.Ats && effective == 0))
            {
                if (!w.Sade)
                {
                    return PageFault(ref w);
                }

                // The A/D update is an implicit write: the G-stage must allow writing the PTE's page.
                if (TGs.Levels != 0 && !GStage<TGs>(ref w, pteGpa, ImplicitWrite, out _, out _, out _, out _))
                {
                    return false;
                }

                if (!_memory.TryCompareExchange64(ptePa, raw, raw | needAd, out ulong observed))
                {
                    return AccessFault(ref w);
                }

                if (observed != raw)
                {
                    goto restart; // the PTE changed under us: walk again
                }

                raw |= needAd;
            }

            // Step 8: the GPA (a superpage keeps the IOVA's low bits).
            int shift = (raw & Pte.N) != 0 ? 16 : 12 + 9 * level;
            ulong pageMask = (1UL << shift) - 1;
            w.Gpa = (TableAddress(raw) & ~pageMask) | (iova & pageMask);
            w.FsShift = shift;
            w.FsPerms = perms;
            w.FsEffective = effective;
            w.FsUser = user;
            w.FsGlobal = (raw & Pte.G) != 0;
            w.FsDirty = (raw & Pte.D) != 0;
            w.FsPbmt = (uint)((raw & Pte.PbmtMask) >> Pte.PbmtShift);
            w.FsLeaf = raw;
            return true;
        }

        return PageFault(ref w);
    }

    /// <summary>G-stage walk of <paramref name="gpa"/> (privileged spec "Guest Physical Address Translation").
    /// Leaves are checked as user-mode accesses (U must be 1). <paramref name="kind"/>: an explicit access of the
    /// request's type, or an implicit read / write made for the first stage.</summary>
    private bool GStage<TGs>(ref Walk w, ulong gpa, int kind, out ulong spa, out int shift, out uint perms, out bool dirty)
        where TGs : struct, IPagingMode
    {
        spa = 0;
        shift = 0;
        perms = 0;
        dirty = false;
        // GPA bits above the x4 mode's width must be zero.
        if (!PagingMode<TGs>.IsCanonical(gpa))
        {
            return GuestPageFault(ref w, gpa, kind);
        }

        // The access the G-stage checks: the request's own, or the implicit read or write of a first-stage PTE.
        AccessType access = kind switch
        {
            ExplicitAccess => w.Access,
            ImplicitWrite => AccessType.Write,
            _ => AccessType.Read,
        };
        uint need = NeedBit(access);
        bool atsExplicit = w.Ats && kind == ExplicitAccess;

        // The common 4 KiB G-stage leaf in one test, as the first stage's (CommonLeafBits). G-stage accesses are all
        // user-level, so no request is excluded.
        ulong leafNeed = CommonLeafBits(access);
        ulong leafMask = leafNeed | CommonLeafClear;

    restart:
        ulong table = w.GsRoot;
        for (int level = TGs.Levels - 1; level >= 0; level--)
        {
            ulong ptePa = table + ((ulong)PagingMode<TGs>.Index(gpa, level) << 3);
            if (!_memory.TryRead64(ptePa, out ulong raw))
            {
                return AccessFault(ref w);
            }

            // Steps 3 and 4 of the G-stage walk for the common pointer PTE in one test, as in the first stage.
            if ((raw & PointerPteMask) == Pte.V)
            {
                table = TableAddress(raw);
                continue;
            }

            if (level == 0 && (raw & leafMask) == leafNeed)
            {
                shift = 12;
                spa = TableAddress(raw) | (gpa & 0xFFF);
                perms = (uint)(raw >> Pte.RBit) & 7;
                dirty = (raw & Pte.D) != 0;
                if (kind == ExplicitAccess)
                {
                    w.GsPbmt = 0;
                }

                return true;
            }

            if (BadPte(raw, w.Svpbmt))
            {
                return GuestPageFault(ref w, gpa, kind);
            }

            if ((raw & Pte.RwxMask) == 0)
            {
                if ((raw & NonLeafReservedPte) != 0 || level == 0)
                {
                    return GuestPageFault(ref w, gpa, kind);
                }

                table = TableAddress(raw);
                continue;
            }

            if (BadLeaf(raw, level))
            {
                return GuestPageFault(ref w, gpa, kind);
            }

            // G-stage accesses are always user-level: a leaf with U = 0 grants nothing.
            uint p = (raw & Pte.U) != 0 ? (uint)(raw >> Pte.RBit) & 7 : 0;
            if (!atsExplicit && (p & need) == 0)
            {
                return GuestPageFault(ref w, gpa, kind);
            }

            if (MisalignedSuperpage(raw, level))
            {
                return GuestPageFault(ref w, gpa, kind);
            }

            bool write = need == Iotlb.W && (p & Iotlb.W) != 0;
            ulong needAd = Pte.A | (write ? Pte.D : 0);
            if ((raw & needAd) != needAd && !(atsExplicit && p == 0))
            {
                if (!w.Gade)
                {
                    return GuestPageFault(ref w, gpa, kind);
                }

                if (!_memory.TryCompareExchange64(ptePa, raw, raw | needAd, out ulong observed))
                {
                    return AccessFault(ref w);
                }

                if (observed != raw)
                {
                    goto restart;
                }

                raw |= needAd;
            }

            shift = (raw & Pte.N) != 0 ? 16 : 12 + 9 * level;
            ulong pageMask = (1UL << shift) - 1;
            spa = (TableAddress(raw) & ~pageMask) | (gpa & pageMask);
            perms = p;
            dirty = (raw & Pte.D) != 0;
            if (kind == ExplicitAccess)
            {
                w.GsPbmt = (uint)((raw & Pte.PbmtMask) >> Pte.PbmtShift); // the translation's own G-stage leaf
            }

            return true;
        }

        return GuestPageFault(ref w, gpa, kind);
    }
}
