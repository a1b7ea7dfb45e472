using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Hardware.Caches;

/// <summary>A located device context, as the DC cache keeps it: the raw doublewords (so every rule reads the
/// spec's fields) plus the address-space slots its translations are tagged with.</summary>
internal struct DeviceContextInfo
{
    public ulong Tc;
    public ulong Iohgatp;
    public ulong Ta;
    public ulong Fsc;
    /// <summary>Extended format only (else 0, i.e. Off): msiptp, msi_addr_mask, msi_addr_pattern.</summary>
    public ulong Msiptp;
    public ulong MsiMask;
    public ulong MsiPattern;
    /// <summary>Slot of (GSCID, DC.ta.PSCID) when PDTV = 0 and iosatp is not Bare; else -1.</summary>
    public int FsSlot;
    public uint FsIdentity;
    /// <summary>Slot of (GSCID, no PSCID) for first-stage-Bare translations when the G-stage is not Bare; else -1.</summary>
    public int GSlot;
    public uint GIdentity;
    /// <summary>Unique per fill: process contexts cached under an older fill of this device are stale.</summary>
    public ulong Stamp;
}

/// <summary>A located process context: PC.ta, PC.fsc and the slot of (GSCID, PC.ta.PSCID).</summary>
internal struct ProcessContextInfo
{
    public ulong Ta;
    public ulong Fsc;
    public int Slot;
    public uint Identity;
}

/// <summary>
/// The DDT cache (leaf device contexts by device_id) and the PDT cache (process contexts by device_id and
/// process_id), direct mapped, each entry under a <see cref="SeqLock"/>. Non-leaf DDT/PDT entries are not cached.
/// Entries stay until IODIR.INVAL_DDT / IODIR.INVAL_PDT (or a collision) removes them, as hardware may keep them.
/// </summary>
internal sealed class DirectoryCaches
{
    private struct DcEntry
    {
        public int Seq;
        public uint Key;      // device_id | 1 << 31; 0 = empty
        public uint DdtGen;
        // The IOTLB-hit path reads only the entry's first 32 bytes (one cache line): these and the words above.
        // The space slot of a request without process_id when DC.tc.PDTV = 0 and a stage is active, else -1.
        public int HitSlot;
        public uint HitIdentity;
        // Process_ids below this may take the hit path: 2^8, 2^17, 2^20 for PD8, PD17, PD20 when PDTV = 1; else 0.
        public uint HitPidLimit;
        public ulong Stamp;   // Info.Stamp, up front: the PC entries of this fill carry it
        // The miss path's single-stage walk (see TryGetDcWalk): DC.fsc when PDTV = 0, the G-stage is Bare, MSI
        // translation is off and iosatp is Sv39, Sv48 or Sv57; else 0. Then DC.tc's SADE and DTF.
        public ulong WalkFsc;
        public uint WalkTc;
        public DeviceContextInfo Info;
    }

    private struct PcEntry
    {
        public int Seq;
        public uint Key;      // device_id | 1 << 31; 0 = empty
        public uint ProcessId;
        public ulong DcStamp;
        // The hit path reads only the entry's first 32 bytes: these and the words above. The slot of the first
        // stage when PC.fsc is not Bare, else -1; PC.ta's ENS and SUM bits.
        public int HitSlot;
        public uint HitIdentity;
        public uint HitTa;
        public ProcessContextInfo Info;
    }

    private const uint ValidKey = 1u << 31;
    private readonly DcEntry[] _dc;
    private readonly PcEntry[] _pc;
    private uint _ddtGen;
    private long _invalSeq;
    private long _stamp;

    public DirectoryCaches(int dcEntries, int pcEntries)
    {
        _dc = new DcEntry[dcEntries];
        _pc = new PcEntry[pcEntries];
    }

    public bool DcEnabled => _dc.Length != 0;
    public bool PcEnabled => _pc.Length != 0;

    /// <summary>Read before a DDT/PDT walk; fills made after an invalidation that ran since are dropped.</summary>
    public long InvalidationSequence => Volatile.Read(ref _invalSeq);

    public uint DdtGeneration => Volatile.Read(ref _ddtGen);

    public ulong NextStamp() => (ulong)Interlocked.Increment(ref _stamp);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int DcIndex(uint deviceId) => DcIndex(deviceId, _dc.Length);

    /// <summary>The entry of <paramref name="deviceId"/>; in range for any power-of-two <paramref name="length"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DcIndex(uint deviceId, int length) => (int)((deviceId * 0x9E37_79B1u) >> 8) & (length - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int PcIndex(uint deviceId, uint processId) => PcIndex(deviceId, processId, _pc.Length);

    /// <summary>The entry of (<paramref name="deviceId"/>, <paramref name="processId"/>); in range for any
    /// power-of-two <paramref name="length"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PcIndex(uint deviceId, uint processId, int length) =>
        (int)(((deviceId * 0x9E37_79B1u) ^ (processId * 0x85EB_CA77u)) >> 8) & (length - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetDc(uint deviceId, out DeviceContextInfo info)
    {
        if (_dc.Length != 0)
        {
            ref DcEntry e = ref _dc[DcIndex(deviceId)];
            if (e.Key == (deviceId | ValidKey))
            {
                int seq = SeqLock.BeginRead(ref e.Seq);
                uint key = e.Key;
                uint gen = e.DdtGen;
                info = e.Info;
                if (SeqLock.Validate(ref e.Seq, seq) && key == (deviceId | ValidKey) && gen == Volatile.Read(ref _ddtGen))
                {
                    return true;
                }
            }
        }

        info = default;
        return false;
    }

    /// <summary>For the second level and the miss path of a request without process_id, in one read of the entry:
    /// the space slot precomputed when the DC was cached (-1 when PDTV = 1 or both stages are Bare, or without an
    /// IOTLB) and its identity; and, when the DC translates by its first stage alone (PDTV = 0, iohgatp Bare, no MSI
    /// page table, iosatp Sv39/48/57), DC.fsc and DC.tc's SADE and DTF (else <paramref name="fsc"/> = 0: the full
    /// process walks). False when the device's DC is not cached.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetDcMiss(uint deviceId, out int slot, out uint identity, out ulong fsc, out uint tc)
    {
        DcEntry[] dc = _dc;
        if (dc.Length != 0)
        {
            ref DcEntry e = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dc), DcIndex(deviceId, dc.Length));
            int seq = SeqLock.BeginRead(ref e.Seq);
            uint key = e.Key;
            uint gen = e.DdtGen;
            slot = e.HitSlot;
            identity = e.HitIdentity;
            fsc = e.WalkFsc;
            tc = e.WalkTc;
            if (SeqLock.Validate(ref e.Seq, seq) && key == (deviceId | ValidKey) && gen == Volatile.Read(ref _ddtGen))
            {
                return true;
            }
        }

        slot = -1;
        identity = 0;
        fsc = 0;
        tc = 0;
        return false;
    }

    /// <summary><see cref="TryGetDcMiss"/> for a DC that translates by its first stage alone: false for any other
    /// DC, or none cached (the full process decides).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetDcWalk(uint deviceId, out ulong fsc, out uint tc, out int slot, out uint identity)
    {
        if (TryGetDcMiss(deviceId, out slot, out identity, out fsc, out tc) && fsc != 0)
        {
            return true;
        }

        fsc = 0;
        tc = 0;
        slot = -1;
        identity = 0;
        return false;
    }

    // Separate accessors rather than one copying every hot word: the path without process_id reads the four words
    // it uses once for both the IOTLB probe and the walk (TryGetDcMiss above).

    /// <summary>For the IOTLB-hit path of a request with a process_id: the PDT mode's process_id limit
    /// (0 when PDTV = 0 or pdtp is Bare) and the fill's stamp of the cached DC.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetDcPidHit(uint deviceId, out uint pidLimit, out ulong stamp)
    {
        DcEntry[] dc = _dc;
        if (dc.Length != 0)
        {
            ref DcEntry e = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(dc), DcIndex(deviceId, dc.Length));
            int seq = SeqLock.BeginRead(ref e.Seq);
            uint key = e.Key;
            uint gen = e.DdtGen;
            pidLimit = e.HitPidLimit;
            stamp = e.Stamp;
            if (SeqLock.Validate(ref e.Seq, seq) && key == (deviceId | ValidKey) && gen == Volatile.Read(ref _ddtGen))
            {
                return true;
            }
        }

        pidLimit = 0;
        stamp = 0;
        return false;
    }

    /// <summary>The hot subset of a cached PC for the IOTLB-hit path: the first stage's space slot (-1 when PC.fsc
    /// is Bare) and identity, and PC.ta (ENS, SUM), if the PC of (<paramref name="deviceId"/>,
    /// <paramref name="processId"/>) was cached under the device's current DC fill <paramref name="dcStamp"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetPcHit(uint deviceId, uint processId, ulong dcStamp, out int slot, out uint identity, out uint ta)
    {
        PcEntry[] pc = _pc;
        if (pc.Length != 0)
        {
            ref PcEntry e = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(pc), PcIndex(deviceId, processId, pc.Length));
            int seq = SeqLock.BeginRead(ref e.Seq);
            uint key = e.Key;
            uint pid = e.ProcessId;
            ulong stamp = e.DcStamp;
            slot = e.HitSlot;
            identity = e.HitIdentity;
            ta = e.HitTa;
            if (SeqLock.Validate(ref e.Seq, seq) && key == (deviceId | ValidKey) && pid == processId && stamp == dcStamp)
            {
                return true;
            }
        }

        slot = -1;
        identity = 0;
        ta = 0;
        return false;
    }

    public void PutDc(uint deviceId, uint ddtGen, long invalSeq, in DeviceContextInfo info)
    {
        if (_dc.Length == 0)
        {
            return;
        }

        ref DcEntry e = ref _dc[DcIndex(deviceId)];
        if (!SeqLock.TryEnter(ref e.Seq, out int start))
        {
            return;
        }

        if (Volatile.Read(ref _invalSeq) == invalSeq)
        {
            e.Key = deviceId | ValidKey;
            e.DdtGen = ddtGen;
            bool fsActive = (info.Fsc >> 60) != 0;
            e.HitSlot = (info.Tc & DeviceContextTc.PdtvMask) != 0 ? -1 : fsActive ? info.FsSlot : info.GSlot;
            e.HitIdentity = fsActive ? info.FsIdentity : info.GIdentity;
            // Step 7.3's process_id widths for pdtp.MODE PD8, PD17, PD20 (DC.fsc holds pdtp when PDTV = 1).
            e.HitPidLimit = (info.Tc & DeviceContextTc.PdtvMask) == 0 ? 0 : (info.Fsc >> 60) switch
            {
                1 => 1u << 8,
                2 => 1u << 17,
                3 => 1u << 20,
                _ => 0,
            };
            e.Stamp = info.Stamp;
            // The first stage alone: no PDT (so DC.fsc is iosatp), a Bare G-stage, no MSI page table (step 18), and
            // iosatp Sv39, Sv48 or Sv57.
            bool singleStage = (info.Tc & DeviceContextTc.PdtvMask) == 0 && (info.Iohgatp & Iohgatp.ModeMask) == 0
                && (MsiptpMode)(info.Msiptp >> Msiptp.ModeShift) != MsiptpMode.Flat
                && (uint)(info.Fsc >> Iosatp.ModeShift) is Iosatp.ModeSv39 or Iosatp.ModeSv48 or Iosatp.ModeSv57;
            e.WalkFsc = singleStage ? info.Fsc : 0;
            e.WalkTc = (uint)(info.Tc & (DeviceContextTc.SadeMask | DeviceContextTc.DtfMask));
            e.Info = info;
        }

        SeqLock.Exit(ref e.Seq, start);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetPc(uint deviceId, uint processId, ulong dcStamp, out ProcessContextInfo info)
    {
        if (_pc.Length != 0)
        {
            ref PcEntry e = ref _pc[PcIndex(deviceId, processId)];
            if (e.Key == (deviceId | ValidKey) && e.ProcessId == processId)
            {
                int seq = SeqLock.BeginRead(ref e.Seq);
                uint key = e.Key;
                uint pid = e.ProcessId;
                ulong stamp = e.DcStamp;
                info = e.Info;
                if (SeqLock.Validate(ref e.Seq, seq) && key == (deviceId | ValidKey) && pid == processId && stamp == dcStamp)
                {
                    return true;
                }
            }
        }

        info = default;
        return false;
    }

    public void PutPc(uint deviceId, uint processId, ulong dcStamp, long invalSeq, in ProcessContextInfo info)
    {
        if (_pc.Length == 0)
        {
            return;
        }

        ref PcEntry e = ref _pc[PcIndex(deviceId, processId)];
        if (!SeqLock.TryEnter(ref e.Seq, out int start))
        {
            return;
        }

        if (Volatile.Read(ref _invalSeq) == invalSeq)
        {
            e.Key = deviceId | ValidKey;
            e.ProcessId = processId;
            e.DcStamp = dcStamp;
            e.HitSlot = (info.Fsc >> 60) != 0 ? info.Slot : -1;
            e.HitIdentity = info.Identity;
            e.HitTa = (uint)(info.Ta & (ProcessContextTa.EnsMask | ProcessContextTa.SumMask));
            e.Info = info;
        }

        SeqLock.Exit(ref e.Seq, start);
    }

    /// <summary>IODIR.INVAL_DDT DV=0: every cached DC and PC.</summary>
    public void InvalidateAllDevices()
    {
        Interlocked.Increment(ref _invalSeq);
        Interlocked.Increment(ref _ddtGen);
    }

    /// <summary>IODIR.INVAL_DDT DV=1: the DC of one device and (through its stamp) all its PCs.</summary>
    public void InvalidateDevice(uint deviceId)
    {
        Interlocked.Increment(ref _invalSeq);
        if (_dc.Length == 0)
        {
            return;
        }

        ref DcEntry e = ref _dc[DcIndex(deviceId)];
        int start = SeqLock.Enter(ref e.Seq);
        if (e.Key == (deviceId | ValidKey))
        {
            e.Key = 0;
        }

        SeqLock.Exit(ref e.Seq, start);
    }

    /// <summary>IODIR.INVAL_PDT: the PC of one (device_id, process_id).</summary>
    public void InvalidateProcess(uint deviceId, uint processId)
    {
        Interlocked.Increment(ref _invalSeq);
        if (_pc.Length == 0)
        {
            return;
        }

        ref PcEntry e = ref _pc[PcIndex(deviceId, processId)];
        int start = SeqLock.Enter(ref e.Seq);
        if (e.Key == (deviceId | ValidKey) && e.ProcessId == processId)
        {
            e.Key = 0;
        }

        SeqLock.Exit(ref e.Seq, start);
    }
}
