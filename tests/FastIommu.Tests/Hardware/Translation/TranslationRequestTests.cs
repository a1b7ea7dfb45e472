using FastIommu.Hardware;

namespace FastIommu.Tests.Hardware.Translation;

/// <summary>A request is checked when it is built, so a bad one never reaches a translation (where an undefined
/// access type made a record with cause "write" and TTYP "execute", and a wide device_id was truncated in it).</summary>
public sealed class TranslationRequestTests
{
    [Test]
    public void An_undefined_access_type_is_refused_naming_the_value()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new TranslationRequest(1, 0x1000, (AccessType)3), Throws.InstanceOf<ArgumentOutOfRangeException>()
                .With.Message.Contain("3"), "constructor");
            Assert.That(() => new TranslationRequest(1, 2, 0x1000, (AccessType)7), Throws.InstanceOf<ArgumentOutOfRangeException>(),
                "constructor with a process_id");
            var request = new TranslationRequest(1, 0x1000, AccessType.Read);
            Assert.That(() => request.Access = (AccessType)200, Throws.InstanceOf<ArgumentOutOfRangeException>(), "setter");
            Assert.That(request.Access, Is.EqualTo(AccessType.Read), "unchanged");
        });
    }

    [Test]
    public void A_device_id_wider_than_24_bits_is_refused_naming_the_value()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new TranslationRequest(1u << 24, 0x1000, AccessType.Read), Throws.InstanceOf<ArgumentOutOfRangeException>()
                .With.Message.Contain("0x1000000"), "constructor");
            Assert.That(() => new TranslationRequest(uint.MaxValue, 1, 0x1000, AccessType.Read), Throws.InstanceOf<ArgumentOutOfRangeException>(),
                "constructor with a process_id");
            var request = new TranslationRequest(0xFF_FFFF, 0x1000, AccessType.Write);
            Assert.That(request.DeviceId, Is.EqualTo(0xFF_FFFFu), "24 bits are fine");
            Assert.That(() => request.DeviceId = 0x100_0001, Throws.InstanceOf<ArgumentOutOfRangeException>(), "setter");
        });
    }
}
