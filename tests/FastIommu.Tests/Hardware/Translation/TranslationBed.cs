using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>
/// Hand-built IOMMU tables in 1 MiB of physical memory at 0x8000_0000, written as raw qwords so every value
/// is the spec's encoding worked out by hand. One standard single-stage scenario and one two-stage scenario;
/// each test changes the one qword it is about.
/// </summary>
/// <remarks>
/// Single stage (ddtp 1LVL, base-format DC):
///   DDT root page 0x8000_0000; device 1's DC at 0x8000_0020 (DDI[0] = 1, 32-byte DC).
///   DC.fsc = iosatp Sv39 (MODE 8), root 0x8000_1000; DC.ta.PSCID = 5.
///   IOVA 0x4020_3678: VPN[2] = 1, VPN[1] = 1, VPN[0] = 3, offset 0x678.
///   L2 0x8000_1000 [1] at 0x8000_1008 -> L1 0x8000_2000 [1] at 0x8000_2008 -> L0 0x8000_3000 [3] at 0x8000_3018
///   -> leaf PA 0x9000_0000, flags V R W U A D (0xD7): translation 0x9000_0678.
/// Two stage (device 2, DC at 0x8000_0040): iohgatp Sv39x4 (MODE 8), GSCID 7, root 0x8001_0000 (16 KiB).
///   G root[0] (0x8001_0000) -> G L1 0x8001_4000; G L1[0] -> G L0 0x8001_5000; G L0[i] maps GPA i x 4K -> SPA
///   0x8000_0000 + i x 4K for i = 1..15 (V R W U A D); G L1[0x80] (0x8001_4400) = 2 MiB leaf GPA 0x1000_0000 ->
///   SPA 0x9000_0000. The first stage lives at GPA 0x1000/0x2000/0x3000 (SPA 0x8000_1000.. as above, but its
///   pointers are GPAs): L2[1] = 0x801 (GPA 0x2000), L1[1] = 0xC01 (GPA 0x3000), L0[3] = leaf GPA 0x1000_0000.
///   IOVA 0x4020_3678 -> GPA 0x1000_0678 -> SPA 0x9000_0678. The single-stage scenario's tables sit at
///   0x8000_1000.. too, so the two scenarios are not used together.
/// </remarks>
internal sealed class TranslationBed : IDisposable
{
    public const ulong Base = 0x8000_0000;
    public const ulong Iova = 0x4020_3678;
    public const ulong ExpectedPa = 0x9000_0678;
    public const ulong DcAddr1 = 0x8000_0020;
    public const ulong DcAddr2 = 0x8000_0040;
    public const ulong L2Entry = 0x8000_1008;
    public const ulong L1Entry = 0x8000_2008;
    public const ulong L0Entry = 0x8000_3018;
    public const ulong LeafRwu = 0x2400_00D7;   // PPN 0x90000 << 10 | D A U W R V

    // capabilities: version 0x10, Sv39 9, Sv48 10, Sv57 11, Svpbmt 15, Sv39x4 17, Sv48x4 18, Sv57x4 19,
    // AMO_HWAD 24, ATS 25, T2GPA 26, PD8 38, PD17 39, PD20 40.
    public const ulong AllCaps = 0x10UL | (1UL << 9) | (1UL << 10) | (1UL << 11) | (1UL << 15) | (1UL << 17) | (1UL << 18)
        | (1UL << 19) | (1UL << 24) | (1UL << 25) | (1UL << 26) | (1UL << 38) | (1UL << 39) | (1UL << 40);

    public const ulong Ddtp1Lvl = (0x80000UL << 10) | 2;

    public PhysicalMemory Memory { get; }
    public IommuTranslator Translator { get; private set; }

    public TranslationBed(ulong caps = AllCaps, TranslatorCacheOptions? options = null)
    {
        Memory = PhysicalMemory.Allocate(0x10_0000, Base);
        Translator = new IommuTranslator(Memory, new Capabilities(caps), options);
        Translator.Ddtp = new Ddtp(Ddtp1Lvl);
    }

    public void Recreate(ulong caps, TranslatorCacheOptions? options = null)
    {
        ulong ddtp = Translator.Ddtp.Value;
        Translator = new IommuTranslator(Memory, new Capabilities(caps), options);
        Translator.Ddtp = new Ddtp(ddtp);
    }

    public void Q(ulong pa, ulong value) => Memory.Qword(pa) = value;

    public ulong Read(ulong pa) => Memory.Qword(pa);

    /// <summary>Device 1: single-stage Sv39, PSCID 5.</summary>
    public TranslationBed SingleStage()
    {
        Q(DcAddr1 + 0, 0x1);                         // tc: V
        Q(DcAddr1 + 8, 0);                           // iohgatp: Bare
        Q(DcAddr1 + 16, 5UL << 12);                  // ta: PSCID 5
        Q(DcAddr1 + 24, (8UL << 60) | 0x80001);      // fsc = iosatp: MODE Sv39, PPN 0x80001
        Q(L2Entry, 0x2000_0801);                     // PPN 0x80002 << 10 | V
        Q(L1Entry, 0x2000_0C01);                     // PPN 0x80003 << 10 | V
        Q(L0Entry, LeafRwu);
        return this;
    }

    /// <summary>Device 2: Sv39 over Sv39x4, GSCID 7, PSCID 5.</summary>
    public TranslationBed TwoStage()
    {
        Q(DcAddr2 + 0, 0x1);                                     // tc: V
        Q(DcAddr2 + 8, (8UL << 60) | (7UL << 44) | 0x80010);     // iohgatp: Sv39x4, GSCID 7, PPN 0x80010
        Q(DcAddr2 + 16, 5UL << 12);                              // ta: PSCID 5
        Q(DcAddr2 + 24, (8UL << 60) | 0x1);                      // fsc: Sv39, root GPA 0x1000
        Q(0x8001_0000, 0x2000_5001);                             // G root[0] -> 0x8001_4000
        Q(0x8001_4000, 0x2000_5401);                             // G L1[0] -> 0x8001_5000
        Q(0x8001_4400, 0x2400_00DF);                             // G L1[0x80]: 2 MiB leaf SPA 0x9000_0000, V R W X U A D
        for (ulong i = 1; i < 16; i++)
        {
            Q(0x8001_5000 + i * 8, ((0x80000 + i) << 10) | 0xD7); // G L0[i]: GPA i x 4K -> SPA 0x8000_0000 + i x 4K
        }

        Q(L2Entry, 0x801);                                       // GPA 0x2000 >> 12 << 10 | V
        Q(L1Entry, 0xC01);                                       // GPA 0x3000
        Q(L0Entry, 0x400_00D7);                                  // leaf GPA 0x1000_0000, V R W U A D
        return this;
    }

    public TranslationResult Translate(uint deviceId, ulong iova, AccessType access = AccessType.Read)
    {
        var request = new TranslationRequest(deviceId, iova, access);
        return Translator.Translate(in request);
    }

    public TranslationResult Translate(in TranslationRequest request) => Translator.Translate(in request);

    public void Dispose() => Memory.Dispose();
}
