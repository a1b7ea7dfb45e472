using FastIommu.Formats.RiscV;
using FastIommu.Hardware.Caches;
using static FastIommu.Hardware.SpecBits;

namespace FastIommu.Hardware;

/// <summary>The directory walks: "Process to locate the Device-context" and "... the Process-context".</summary>
internal sealed partial class TranslatorEngine<TMemory, TCount>
{
    /// <summary>GET_DC: false with the fault's cause when no valid DC was found (reported with DTF assumed 0).</summary>
    private bool LocateDeviceContext(uint deviceId, ulong ddtp, uint iommuMode, bool extended, out FaultCause cause, out DeviceContextInfo dc)
    {
        cause = FaultCause.None;
        dc = default;
        // Read before the walk: a fill racing an IODIR that ran since then is dropped.
        uint ddtGen = Dir.DdtGeneration;
        long invalSeq = Dir.InvalidationSequence;
        int ddi0Bits = extended ? 6 : 7;

        // Step 1: a = ddtp.PPN x 2^12, i = LEVELS - 1 (1LVL: 1, 2LVL: 2, 3LVL: 3).
        ulong a = ((ddtp & DdtpPpn) >> DdtpPpnShift) << 12;
        int levels = (int)iommuMode - 1;

        // Step 2: while i != 0.
        for (int i = levels - 1; i > 0; i--)
        {
            uint ddi = i == 1 ? (deviceId >> ddi0Bits) & 0x1FF : deviceId >> (ddi0Bits + 9);

            // Step 3: ddte = 8 bytes at a + DDI[i] x 8; an access fault is "DDT entry load access fault".
            if (!_memory.TryRead64(a + ((ulong)ddi << 3), out ulong ddte))
            {
                cause = FaultCause.DdtEntryLoadAccessFault;
                return false;
            }

            // Step 5: ddte.V == 0: "DDT entry not valid".
            if ((ddte & 1) == 0)
            {
                cause = FaultCause.DdtEntryNotValid;
                return false;
            }

            // Step 6: reserved bits set: "DDT entry misconfigured".
            if ((ddte & NonLeafReserved) != 0)
            {
                cause = FaultCause.DdtEntryMisconfigured;
                return false;
            }

            // Step 7: a = ddte.PPN x 2^12.
            a = ((ddte & NonLeafPpn) >> NonLeafPpnShift) << 12;
        }

        // Step 8: DC = DC_SIZE bytes at a + DDI[0] x DC_SIZE (64 bytes extended, 32 base).
        ulong dcPa = a + ((ulong)(deviceId & ((1u << ddi0Bits) - 1)) << (extended ? 6 : 5));
        ulong msiptp = 0, msiMask = 0, msiPattern = 0, reserved = 0;
        if (!_memory.TryRead64(dcPa, out ulong tc)
            || !_memory.TryRead64(dcPa + 8, out ulong iohgatp)
            || !_memory.TryRead64(dcPa + 16, out ulong ta)
            || !_memory.TryRead64(dcPa + 24, out ulong fsc)
            || (extended && (!_memory.TryRead64(dcPa + 32, out msiptp)
                || !_memory.TryRead64(dcPa + 40, out msiMask)
                || !_memory.TryRead64(dcPa + 48, out msiPattern)
                || !_memory.TryRead64(dcPa + 56, out reserved))))
        {
            cause = FaultCause.DdtEntryLoadAccessFault;
            return false;
        }

        // Step 9: DC.tc.V == 0: "DDT entry not valid".
        if ((tc & TcV) == 0)
        {
            cause = FaultCause.DdtEntryNotValid;
            return false;
        }

        // Step 10: "Device-context configuration checks".
        if (DeviceContextMisconfigured(tc, iohgatp, ta, fsc, extended, msiptp, msiMask, msiPattern, reserved))
        {
            cause = FaultCause.DdtEntryMisconfigured;
            return false;
        }

        // Step 11: located. Tag the address spaces its translations will be cached under.
        dc.Tc = tc;
        dc.Iohgatp = iohgatp;
        dc.Ta = ta;
        dc.Fsc = fsc;
        dc.Msiptp = msiptp;
        dc.MsiMask = msiMask;
        dc.MsiPattern = msiPattern;
        dc.FsSlot = dc.GSlot = -1;
        bool gv = (iohgatp >> AtpModeShift) != 0;
        uint gscid = (uint)(iohgatp >> GscidShift) & 0xFFFF;
        if (Tlb is not null)
        {
            if ((tc & TcPdtv) == 0 && (fsc >> AtpModeShift) != 0)
            {
                dc.FsSlot = Spaces.Resolve(AddressSpaceTable.MakeKey(gv, gscid, true, (uint)(ta >> PscidShift) & 0xFFFFF), out dc.FsIdentity);
            }

            if (gv)
            {
                dc.GSlot = Spaces.Resolve(AddressSpaceTable.MakeKey(gv, gscid, false, 0), out dc.GIdentity);
            }
        }

        dc.Stamp = Dir.NextStamp();
        Dir.PutDc(deviceId, ddtGen, invalSeq, in dc);
        return true;
    }

    /// <summary>The spec's "Device-context configuration checks", in its order.</summary>
    private bool DeviceContextMisconfigured(ulong tc, ulong iohgatp, ulong ta, ulong fsc, bool extended,
        ulong msiptp, ulong msiMask, ulong msiPattern, ulong reserved)
    {
        ulong caps = Caps;
        uint fctl = Volatile.Read(ref FctlValue);
        bool enAts = (tc & TcEnAts) != 0, enPri = (tc & TcEnPri) != 0, prpr = (tc & TcPrpr) != 0;
        bool t2gpa = (tc & TcT2gpa) != 0, pdtv = (tc & TcPdtv) != 0;
        uint gMode = (uint)(iohgatp >> AtpModeShift);
        uint fscMode = (uint)(fsc >> AtpModeShift);

        // 1. Reserved bits: tc 23:12 and 63:32; ta outside PSCID (v1.0 without QoS IDs); fsc 59:44;
        //    extended format: msiptp 59:44, msi_addr_mask / pattern 63:52, the reserved doubleword.
        if ((tc & TcReserved) != 0 || (ta & DcTaReserved) != 0 || (fsc & AtpReserved5944) != 0)
        {
            return true;
        }

        if (extended && ((msiptp & MsiptpReserved) != 0 || (msiMask & MsiAddrReserved) != 0
            || (msiPattern & MsiAddrReserved) != 0 || reserved != 0))
        {
            return true;
        }

        // 2. to 7. ATS / PRI / T2GPA consistency.
        if ((!Has(caps, CapAts) && (enAts || enPri || prpr))
            || (!enAts && t2gpa)
            || (!enAts && enPri)
            || (!enPri && prpr)
            || (!Has(caps, CapT2gpa) && t2gpa)
            || (t2gpa && gMode == 0))
        {
            return true;
        }

        if (pdtv)
        {
            // 8. pdtp.MODE must be Bare or a supported PD8 / PD17 / PD20.
            if (fscMode > 3 || (fscMode == 1 && !Has(caps, CapPd8)) || (fscMode == 2 && !Has(caps, CapPd17)) || (fscMode == 3 && !Has(caps, CapPd20)))
            {
                return true;
            }
        }
        else if (!FirstStageModeSupported(fscMode) || (tc & TcDpe) != 0)
        {
            // 9., 10. iosatp.MODE valid and supported; 12. DPE needs PDTV.
            return true;
        }

        // 11., 20. SXL = 1 selects Sv32 / Sv32x4, which this model does not implement: fctl.GXL is 0 and
        //    read-only here, so SXL must be 0.
        if ((tc & TcSxl) != 0)
        {
            return true;
        }

        // 13. to 15. iohgatp.MODE valid and supported (with fctl.GXL = 1 only Sv32x4 would be legal).
        if (gMode != 0 && ((fctl & FctlGxl) != 0 || !GStageModeSupported(gMode)))
        {
            return true;
        }

        // 16. msiptp.MODE Off or Flat.
        if (extended && (msiptp >> AtpModeShift) > 1)
        {
            return true;
        }

        // msiptp.MODE other than Off with iohgatp.MODE Bare is reserved (MSI translation takes guest physical
        // addresses); the spec recommends "DDT entry misconfigured" for it. Without this a Bare/Bare DC with an MSI
        // page table would skip the identity path and report a page size of 2^63.
        if (extended && gMode == 0 && (msiptp >> AtpModeShift) != 0)
        {
            return true;
        }

        // 17. A G-stage root must be 16 KiB aligned.
        if (gMode != 0 && (iohgatp & 3) != 0)
        {
            return true;
        }

        // 18. SADE / GADE need capabilities.AMO_HWAD.
        if (!Has(caps, CapAmoHwad) && (tc & (TcSade | TcGade)) != 0)
        {
            return true;
        }

        // 19. Without capabilities.END, SBE must equal fctl.BE. 21. This model reads little-endian only,
        //    so SBE = 1 is not a legal value here.
        bool be = (fctl & FctlBe) != 0, sbe = (tc & TcSbe) != 0;
        return (!Has(caps, CapEnd) && be != sbe) || sbe;
    }

    private bool FirstStageModeSupported(uint mode) => mode switch
    {
        0 => true,
        8 => Has(Caps, CapSv39),
        9 => Has(Caps, CapSv48),
        10 => Has(Caps, CapSv57),
        _ => false,
    };

    private bool GStageModeSupported(uint mode) => mode switch
    {
        8 => Has(Caps, CapSv39x4),
        9 => Has(Caps, CapSv48x4),
        10 => Has(Caps, CapSv57x4),
        _ => false,
    };

    private bool LocateProcessContext(ref Walk w, in DeviceContextInfo dc, uint deviceId, uint processId, uint gMode, out ProcessContextInfo pc) =>
        gMode switch
        {
            8 => LocateProcessContext<Sv39x4>(ref w, in dc, deviceId, processId, out pc),
            9 => LocateProcessContext<Sv48x4>(ref w, in dc, deviceId, processId, out pc),
            10 => LocateProcessContext<Sv57x4>(ref w, in dc, deviceId, processId, out pc),
            _ => LocateProcessContext<BareStage>(ref w, in dc, deviceId, processId, out pc),
        };

    private static bool PdtFault(ref Walk w, FaultCause cause)
    {
        w.Cause = cause;
        w.Iotval2 = 0;
        return false;
    }

    private bool LocateProcessContext<TGs>(ref Walk w, in DeviceContextInfo dc, uint deviceId, uint processId, out ProcessContextInfo pc)
        where TGs : struct, IPagingMode
    {
        pc = default;
        long invalSeq = Dir.InvalidationSequence;

        // Step 1: a = pdtp.PPN x 2^12, i = LEVELS - 1 (PD20: 3, PD17: 2, PD8: 1).
        ulong a = (dc.Fsc & AtpPpn) << 12;
        int i = (int)(dc.Fsc >> AtpModeShift) - 1;
        ulong spa;
        while (true)
        {
            // Step 2: under a G-stage, a is a GPA: translate it as an implicit read (iotval2 bit 0 on a guest-page
            // fault). A G-stage PTE that cannot be read is an access fault of this PDT read, "PDT entry load access
            // fault" (as the spec's reference model reports it), not one of the request's own access type.
            spa = a;
            if (TGs.Levels != 0 && !GStage<TGs>(ref w, a, ImplicitRead, out spa, out _, out _, out _))
            {
                return (ushort)w.Cause is 1 or 5 or 7 ? PdtFault(ref w, FaultCause.PdtEntryLoadAccessFault) : false;
            }

            // Step 3: i == 0: the leaf level.
            if (i == 0)
            {
                break;
            }

            // Step 4: pdte = 8 bytes at a + PDI[i] x 8; PDI[1] = process_id[16:8], PDI[2] = process_id[19:17].
            uint pdi = i == 1 ? (processId >> 8) & 0x1FF : (processId >> 17) & 0x7;
            if (!_memory.TryRead64(spa + ((ulong)pdi << 3), out ulong pdte))
            {
                return PdtFault(ref w, FaultCause.PdtEntryLoadAccessFault);
            }

            // Step 6: V == 0.
            if ((pdte & 1) == 0)
            {
                return PdtFault(ref w, FaultCause.PdtEntryNotValid);
            }

            // Step 7: reserved bits.
            if ((pdte & NonLeafReserved) != 0)
            {
                return PdtFault(ref w, FaultCause.PdtEntryMisconfigured);
            }

            // Step 8: next level.
            i--;
            a = ((pdte & NonLeafPpn) >> NonLeafPpnShift) << 12;
        }

        // Step 9: PC = 16 bytes at a + PDI[0] x 16, PDI[0] = process_id[7:0].
        ulong pcPa = spa + ((ulong)(processId & 0xFF) << 4);
        if (!_memory.TryRead64(pcPa, out ulong ta) || !_memory.TryRead64(pcPa + 8, out ulong fsc))
        {
            return PdtFault(ref w, FaultCause.PdtEntryLoadAccessFault);
        }

        // Step 10: PC.ta.V == 0.
        if ((ta & PcV) == 0)
        {
            return PdtFault(ref w, FaultCause.PdtEntryNotValid);
        }

        // Step 11: "Process-context configuration checks": reserved bits (ta 11:3, 63:32; fsc 59:44) and a
        // valid, supported PC.fsc.MODE.
        if ((ta & PcTaReserved) != 0 || (fsc & AtpReserved5944) != 0 || !FirstStageModeSupported((uint)(fsc >> AtpModeShift)))
        {
            return PdtFault(ref w, FaultCause.PdtEntryMisconfigured);
        }

        // Step 12: located.
        pc.Ta = ta;
        pc.Fsc = fsc;
        pc.Slot = -1;
        if (Tlb is not null && (fsc >> AtpModeShift) != 0)
        {
            bool gv = (dc.Iohgatp >> AtpModeShift) != 0;
            uint gscid = (uint)(dc.Iohgatp >> GscidShift) & 0xFFFF;
            pc.Slot = Spaces.Resolve(AddressSpaceTable.MakeKey(gv, gscid, true, (uint)(ta >> PscidShift) & 0xFFFFF), out pc.Identity);
        }

        Dir.PutPc(deviceId, processId, dc.Stamp, invalSeq, in pc);
        return true;
    }
}
