namespace FastIommu.Tests.Formats;

/// <summary>Checks a reserved-bit detector bit by bit against the reserved ranges as the spec's figure lists them.</summary>
internal static class ReservedBits
{
    public static void AssertExactly(Func<ulong, bool> hasReservedBitsSet, int width, string what, params (int Hi, int Lo)[] ranges)
    {
        Assert.Multiple(() =>
        {
            for (int bit = 0; bit < width; bit++)
            {
                bool expected = false;
                foreach (var (hi, lo) in ranges)
                {
                    expected |= bit >= lo && bit <= hi;
                }

                Assert.That(hasReservedBitsSet(1UL << bit), Is.EqualTo(expected), $"{what}: bit {bit} reserved = {expected}");
            }

            Assert.That(hasReservedBitsSet(0), Is.False, $"{what}: zero has no reserved bit set");
        });
    }
}
