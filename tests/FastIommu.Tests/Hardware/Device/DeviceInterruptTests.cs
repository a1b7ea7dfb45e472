using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>MSI generation through msi_cfg_tbl (spec "MSI configuration table", "ipsr").</summary>
public class DeviceInterruptTests
{
    private static void RaiseCip(DeviceHarness h)
    {
        h.EnableCommandQueue();
        h.Device.Write32(0x48, 0x3);             // cie
        h.Submit((0x0000_0000_0000_0005, 0));    // reserved opcode: cmd_ill -> cip 0 -> 1
    }

    [Test]
    public void An_ipsr_edge_sends_the_vectors_message()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x2F8, 0x0002);                          // civ = 2
        h.Device.Write64(0x300 + (2 * 16), DeviceHarness.FenceFlag); // msi_addr_2
        h.Device.Write32(0x300 + (2 * 16) + 8, 0x0000_1234);      // msi_data_2
        RaiseCip(h);
        Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.EqualTo(0x1234UL), "MSI data written at msi_addr_2");
    }

    [Test]
    public void A_masked_vector_holds_its_message_until_unmasked()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x300, DeviceHarness.FenceFlag);   // vector 0 (civ = 0)
        h.Device.Write32(0x308, 0x55);
        h.Device.Write32(0x30C, 0xFFFF_FFFF);               // M = 1; reserved bits dropped
        Assert.That(h.Device.Read32(0x30C), Is.EqualTo(1u), "msi_vec_ctl keeps M only");
        RaiseCip(h);
        Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.Zero, "masked: nothing sent");
        h.Device.Write32(0x30C, 0);
        Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.EqualTo(0x55UL), "sent when unmasked");
    }

    [Test]
    public void Msi_address_is_warl_and_a_faulting_msi_write_is_reported_as_cause_273()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x300, 0xFFFF_FFFF_FFFF_FFFF);
        Assert.That(h.Device.Read64(0x300), Is.EqualTo(0x00FF_FFFF_FFFF_FFFCUL), "ADDR 55:2 only");
        h.Device.Write64(0x300, 0x1000_0000);  // not memory
        h.EnableFaultQueue();
        RaiseCip(h);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x34), Is.EqualTo(1u), "a fault record");
            // CAUSE 273 = 0x111, TTYP 0 (so DID, PV, PID, PRIV 0), iotval = msi_addr_0.
            Assert.That(Convert.ToHexString(h.Memory.GetSpan(DeviceHarness.FaultQueueBase, 32)),
                Is.EqualTo("1101000000000000" + "0000000000000000" + "0000001000000000" + "0000000000000000"), "IOMMU MSI write access fault");
        });
    }

    [Test]
    public void Wired_interrupts_send_no_message_and_a_wsi_only_iommu_has_no_table()
    {
        using var h = new DeviceHarness();
        h.Device.Write64(0x300, DeviceHarness.FenceFlag);
        h.Device.Write32(0x308, 0x77);
        h.Device.Write32(0x08, 0x2); // fctl.WSI
        RaiseCip(h);
        Assert.Multiple(() =>
        {
            Assert.That(h.Device.Read32(0x54) & 1, Is.EqualTo(1u), "cip drives the wire");
            Assert.That(h.Memory.Qword(DeviceHarness.FenceFlag), Is.Zero, "no MSI with fctl.WSI = 1");
        });

        // IGS = WSI (1 << 28): 0xA3060610 - 0x10000000 = 0x93060610.
        using var wsi = new DeviceHarness(0x0000_01F8_9306_0610);
        wsi.Device.Write64(0x300, DeviceHarness.FenceFlag);
        wsi.Device.Write32(0x308, 0x77);
        Assert.That(wsi.Device.Read64(0x300) | wsi.Device.Read32(0x308), Is.Zero, "msi_cfg_tbl hard-wired to 0 when IGS = WSI");
    }
}
