using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Formats;

/// <summary>HPM registers, and layout facts that hold for every format struct.</summary>
public class HpmAndLayoutTests
{
    [Test]
    public void Iohpmcycles_fields()
    {
        Assert.That(default(Iohpmcycles).WithOf(true).Value, Is.EqualTo(0x8000_0000_0000_0000UL), "OF bit 63");
        Assert.That(default(Iohpmcycles).WithCounter(ulong.MaxValue).Value, Is.EqualTo(0x7FFF_FFFF_FFFF_FFFFUL), "counter 62:0");
        Assert.That(new Iohpmcycles(ulong.MaxValue).WithCounter(0).Value, Is.EqualTo(0x8000_0000_0000_0000UL), "counter write keeps OF");
    }

    [TestCase("eventID", 1UL, 0x0000_0000_0000_0001UL)]
    [TestCase("eventID", 0x7FFFUL, 0x0000_0000_0000_7FFFUL)]
    [TestCase("eventID", 0x8000UL, 0x0UL)]
    [TestCase("DMASK", 1UL, 0x0000_0000_0000_8000UL)]
    [TestCase("PID_PSCID", 1UL, 0x0000_0000_0001_0000UL)]
    [TestCase("PID_PSCID", 0xF_FFFFUL, 0x0000_000F_FFFF_0000UL)]
    [TestCase("PID_PSCID", 0x10_0000UL, 0x0UL)]
    [TestCase("DID_GSCID", 1UL, 0x0000_0010_0000_0000UL)]
    [TestCase("DID_GSCID", 0xFF_FFFFUL, 0x0FFF_FFF0_0000_0000UL)]
    [TestCase("DID_GSCID", 0x100_0000UL, 0x0UL)]
    [TestCase("PV_PSCV", 1UL, 0x1000_0000_0000_0000UL)]
    [TestCase("DV_GSCV", 1UL, 0x2000_0000_0000_0000UL)]
    [TestCase("IDT", 1UL, 0x4000_0000_0000_0000UL)]
    [TestCase("OF", 1UL, 0x8000_0000_0000_0000UL)]
    public void Iohpmevt_fields(string field, ulong input, ulong expected)
    {
        var e = default(Iohpmevt);
        e = field switch
        {
            "eventID" => e.WithEventId((uint)input),
            "DMASK" => e.WithDmask(true),
            "PID_PSCID" => e.WithPidPscid((uint)input),
            "DID_GSCID" => e.WithDidGscid((uint)input),
            "PV_PSCV" => e.WithPvPscv(true),
            "DV_GSCV" => e.WithDvGscv(true),
            "IDT" => e.WithIdt(true),
            "OF" => e.WithOf(true),
            _ => throw new ArgumentException(field),
        };
        Assert.That(e.Value, Is.EqualTo(expected), $"iohpmevt.{field}");
    }

    [Test]
    public void Iohpmevt_decoding()
    {
        var e = new Iohpmevt(ulong.MaxValue);
        Assert.That((e.EventId, e.Dmask, e.PidPscid, e.DidGscid, e.PvPscv, e.DvGscv, e.Idt, e.Of),
            Is.EqualTo((0x7FFFu, true, 0xF_FFFFu, 0xFF_FFFFu, true, true, true, true)), "full word");
    }

    private static IEnumerable<Type> FormatStructs() =>
        typeof(Pte).Assembly.GetTypes().Where(t => t.Namespace == "FastIommu.Formats.RiscV" && t.IsValueType && !t.IsEnum
            && t.StructLayoutAttribute is { Size: > 0 });

    [Test]
    public void Every_format_struct_is_blittable_with_its_declared_size()
    {
        var types = FormatStructs().ToList();
        Assert.That(types, Has.Count.GreaterThanOrEqualTo(30), "all hardware structures found");
        foreach (var t in types)
        {
            int declared = t.StructLayoutAttribute!.Size;
            int actual = (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(t).Invoke(null, null)!;
            bool refs = (bool)typeof(RuntimeHelpers).GetMethod(nameof(RuntimeHelpers.IsReferenceOrContainsReferences))!.MakeGenericMethod(t).Invoke(null, null)!;
            Assert.That((actual, refs, t.StructLayoutAttribute.Value), Is.EqualTo((declared, false, LayoutKind.Sequential)), $"{t.Name}: size, no references, sequential");
        }
    }
}
