using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;

namespace FastIommu.Tests.Hardware.Device;

public class DeviceConstructionTests
{
    [Test]
    public void Each_constructor_gives_a_device_at_reset()
    {
        using var memory = PhysicalMemory.Allocate(0x10000, 0x8000_0000);
        var devices = new[]
        {
            new RiscVIommu(memory, Capabilities.FullRv64),
            new RiscVIommu((IMemoryAccess)new PhysicalMemoryAccess(memory), Capabilities.FullRv64),
            RiscVIommu.Create(new PhysicalMemoryAccess(memory), Capabilities.FullRv64),
        };
        foreach (RiscVIommu device in devices)
        {
            Assert.Multiple(() =>
            {
                Assert.That(device.Read64(0x00), Is.EqualTo(Capabilities.FullRv64.Value), "capabilities as given");
                Assert.That(device.Read64(0x10), Is.Zero, "ddtp Off");
                Assert.That(device.Read32(0x48) | device.Read32(0x4C) | device.Read32(0x50) | device.Read32(0x54), Is.Zero,
                    "queues off, ipsr 0 (spec \"Reset behavior\")");
                Assert.That(device.Translator.Ddtp.Value, Is.Zero, "the translator starts Off too");
                Assert.That(device.Translate(new TranslationRequest(1, 0x1000, AccessType.Read)).Cause,
                    Is.EqualTo(FaultCause.AllInboundTransactionsDisallowed), "Off: all inbound transactions disallowed");
            });
        }
    }

    [TestCase(1UL << 30, Description = "HPM")]
    [TestCase(1UL << 41, Description = "QOSID")]
    [TestCase(3UL << 28, Description = "IGS 3 reserved")]
    public void Capabilities_the_model_cannot_honour_are_refused(ulong extra)
    {
        using var memory = PhysicalMemory.Allocate(0x10000, 0x8000_0000);
        var caps = new Capabilities((Capabilities.FullRv64.Value & ~(3UL << 28)) | extra);
        var error = Assert.Throws<ArgumentException>(() => _ = new RiscVIommu(memory, caps));
        Assert.That(error!.Message, Does.Contain($"0x{caps.Value:x}"), "the message names the value");
    }

    [Test]
    public void Pas_below_a_page_is_refused()
    {
        using var memory = PhysicalMemory.Allocate(0x10000, 0x8000_0000);
        var caps = new Capabilities(Capabilities.FullRv64.Value & ~Capabilities.PasMask | (11UL << Capabilities.PasShift));
        Assert.Throws<ArgumentException>(() => _ = new RiscVIommu(memory, caps), "PAS 11");
    }

    [Test]
    public void The_interrupt_callback_may_write_registers()
    {
        using var h = new DeviceHarness();
        h.Device.Write32(0x08, 0x2); // wired interrupts: no MSI
        int calls = 0;
        h.Device.InterruptRequested = (source, _) =>
        {
            calls++;
            h.Device.Write32(0x48, 0x400); // a handler: turn the queue off, clear cmd_ill (RW1C) and cie
            h.Device.Write32(0x54, 0x1);   // then acknowledge cip
        };
        h.EnableCommandQueue();
        h.Device.Write32(0x48, 0x3);
        h.Submit((0x0000_0000_0000_0005, 0));
        Assert.Multiple(() =>
        {
            Assert.That(calls, Is.EqualTo(1), "one interrupt, handled from inside the callback");
            Assert.That(h.Device.Read32(0x54), Is.Zero, "acknowledged with the cause gone");
        });
    }

    [Test]
    public void An_edge_raised_inside_the_callback_is_delivered_after_it_returns_not_nested()
    {
        using var h = new DeviceHarness();
        h.Device.Write32(0x08, 0x2);
        int calls = 0;
        int depth = 0;
        int maxDepth = 0;
        h.Device.InterruptRequested = (_, _) =>
        {
            calls++;
            maxDepth = Math.Max(maxDepth, ++depth);
            if (calls < 4)
            {
                h.Device.Write32(0x54, 0x1); // acknowledge without removing the cause: cip rises again
            }

            depth--;
        };
        h.EnableCommandQueue();
        h.Device.Write32(0x48, 0x3);
        h.Submit((0x0000_0000_0000_0005, 0));
        Assert.Multiple(() =>
        {
            Assert.That(calls, Is.EqualTo(4), "each acknowledgement of a persisting cause gives one more edge");
            Assert.That(maxDepth, Is.EqualTo(1), "never nested");
        });
    }
}
