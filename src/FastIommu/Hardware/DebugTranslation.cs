using FastIommu.Formats.RiscV;

namespace FastIommu.Hardware;

/// <summary>
/// The debug translation-request interface (spec "Debug support", registers <c>tr_req_iova</c>, <c>tr_req_ctl</c>,
/// <c>tr_response</c>), present when capabilities.DBG is 1. State only; the request runs in
/// <see cref="RiscVIommu"/> (it needs the translator and the fault queue).
/// </summary>
/// <remarks>
/// <code>
/// tr_req_ctl:  63     40 39  36 35 33  32  31      12 11   4  3    2    1      0
///             +---------+------+-----+----+----------+------+----+-----+------+---------+
///             |   DID   |custom| rsvd| PV |   PID    | rsvd | NW | Exe | Priv | Go/Busy |
///             +---------+------+-----+----+----------+------+----+-----+------+---------+
/// tr_response: 63  60 59  54 53                 10   9   8  7  6     1    0
///             +------+------+---------------------+---+------+--------+-------+
///             |custom| rsvd |         PPN         | S | PBMT |  rsvd  | fault |
///             +------+------+---------------------+---+------+--------+-------+
/// </code>
/// </remarks>
internal sealed class DebugTranslation
{
    public const ulong Go = TrReqCtl.GoBusyMask;
    public const ulong Priv = TrReqCtl.PrivMask;
    public const ulong Exe = TrReqCtl.ExeMask;
    public const ulong Nw = TrReqCtl.NwMask;
    public const ulong PidMask = TrReqCtl.PidMask;
    public const ulong Pv = TrReqCtl.PvMask;
    public const ulong DidMask = TrReqCtl.DidMask;
    public const ulong CtlWritable = Go | Priv | Exe | Nw | PidMask | Pv | DidMask;
    public const ulong IovaMask = TrReqIova.VpnMask; // vpn 63:12; 11:0 reserved

    private ulong _iova;
    private ulong _control;
    private ulong _response;

    public ulong Iova => Volatile.Read(ref _iova);

    public ulong Control => Volatile.Read(ref _control);

    public ulong Response => Volatile.Read(ref _response);

    public void WriteIova(ulong value) => Volatile.Write(ref _iova, value & IovaMask);

    /// <summary>Stores the WARL fields. Go/Busy is RW1S: writing 0 does not clear it. Returns true when the write
    /// sets Go (a request to run).</summary>
    public bool WriteControl(ulong value)
    {
        ulong control = (value & CtlWritable) | (Control & Go);
        Volatile.Write(ref _control, control);
        return (value & Go) != 0;
    }

    /// <summary>Completes the request: tr_response first, then Go/Busy cleared, so a reader that sees Busy 0
    /// sees the response.</summary>
    public void Complete(ulong response)
    {
        Volatile.Write(ref _response, response);
        Volatile.Write(ref _control, Control & ~Go);
    }
}

public sealed partial class RiscVIommu
{
    // Runs the request in tr_req_iova / tr_req_ctl as an Untranslated request (spec "Debug support"): faults go to
    // the fault queue as usual and tr_response.fault is set. NW=0 asks for read and write permission, NW=1 for read,
    // Exe for execute as well: the request is translated for write (or read) and, with Exe, again for execute.
    // The translator may cache what it walks ("may or may not cache"). PBMT is the translation's memory type, both
    // stages resolved (TranslationResult.MemoryType).
    private void RunDebugRequest()
    {
        var control = new TrReqCtl(_debug.Control);
        var request = new TranslationRequest
        {
            DeviceId = control.Did,
            ProcessId = control.Pid,
            ProcessIdValid = control.Pv,
            Privileged = control.Priv,
            Iova = _debug.Iova,
            Access = control.Nw ? AccessType.Read : AccessType.Write,
        };

        TranslationResult result = Translate(in request);
        if (result.Success && control.Exe)
        {
            request.Access = AccessType.Execute;
            TranslationResult execute = Translate(in request);
            result = execute.Success ? result : execute;
        }

        _debug.Complete(result.Success
            ? TrResponse.Success(result.PhysicalAddress, result.PageSize, result.MemoryType).Value
            : TrResponse.Faulted.Value);
    }
}
