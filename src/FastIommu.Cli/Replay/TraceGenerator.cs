using System.Globalization;

namespace FastIommu.Cli.Replay;

/// <summary>
/// Writes traces for the usual DMA patterns, deterministic for a seed: <c>ring</c> (a network driver's receive ring of
/// 256 posted buffers: the device writes one, the driver unmaps it and maps a fresh buffer at the same IOVA), <c>random</c> (reads and writes
/// all over a mapped pool, with pages unmapped and mapped again at random), <c>stream</c> (a streaming transfer: each
/// 64 KiB chunk mapped at a fresh IOVA, written page by page, unmapped; IOVAs never reused).
/// </summary>
internal static class TraceGenerator
{
    public static readonly string[] Patterns = ["ring", "random", "stream"];

    private const ulong Page = 0x1000;
    private const ulong DataBase = 0x8000_0000; // buffers in the lower half of the default RAM (the driver's pages are above)
    private const ulong DataPages = 0x8000;      // 128 MiB of buffers

    /// <summary>Writes about <paramref name="count"/> operations (map, unmap, sync, dma; the setup lines come first).</summary>
    public static void Write(TextWriter writer, string pattern, long count, int seed)
    {
        writer.WriteLine($"# fastiommu trace: pattern {pattern}, {count} operations, seed {seed} (docs/trace-format.md)");
        writer.WriteLine("iommu iommu0");
        writer.WriteLine("domain dma sv48");
        writer.WriteLine("device 0x100 group=nic");
        writer.WriteLine("attach nic dma");
        var random = new Random(seed);
        switch (pattern)
        {
            case "ring":
                Ring(writer, count, random);
                break;
            case "random":
                RandomPattern(writer, count, random);
                break;
            case "stream":
                Stream(writer, count);
                break;
            default:
                throw new ArgumentException($"unknown pattern '{pattern}' (ring, random or stream)", nameof(pattern));
        }
    }

    private static void Ring(TextWriter w, long count, Random random)
    {
        const int Slots = 256;
        const ulong RingIova = 0x1_0000_0000;
        long ops = 0;
        for (int slot = 0; slot < Slots && ops < count; slot++, ops++)
        {
            w.WriteLine($"map dma {Hex(RingIova + ((ulong)slot * Page))} {Hex(Buffer(random))} 0x1000 rw");
        }

        for (long packet = 0; ops < count; packet++)
        {
            // The device writes a packet into the next posted buffer; the driver unmaps it to pass it up the stack and
            // posts a fresh buffer at the same IOVA (slot).
            ulong iova = RingIova + ((ulong)(packet % Slots) * Page);
            w.WriteLine($"dma 0x100 - {Hex(iova)} w");
            w.WriteLine($"dma 0x100 - {Hex(iova + 0x800)} w");
            w.WriteLine($"unmap dma {Hex(iova)} 0x1000");
            w.WriteLine($"map dma {Hex(iova)} {Hex(Buffer(random))} 0x1000 rw");
            ops += 4;
        }
    }

    /// <summary>A fresh buffer page from the data area.</summary>
    private static ulong Buffer(Random random) => DataBase + ((ulong)random.NextInt64((long)DataPages) * Page);

    private static void RandomPattern(TextWriter w, long count, Random random)
    {
        // Up to 16 MiB of IOVA, all mapped at first (a quarter of the operations at most, so DMA dominates).
        int pool = (int)Math.Clamp(count / 4, 1, 4096);
        const ulong PoolIova = 0x2_0000_0000;
        var mapped = new bool[pool];
        long ops = 0;
        for (int i = 0; i < pool && ops < count; i++, ops++)
        {
            w.WriteLine($"map dma {Hex(PoolIova + ((ulong)i * Page))} {Hex(DataBase + ((ulong)i * Page))} 0x1000 rw");
            mapped[i] = true;
        }

        while (ops < count)
        {
            int page = random.Next(pool);
            ulong iova = PoolIova + ((ulong)page * Page);
            int roll = random.Next(100);
            if (roll < 90 || !mapped[page])
            {
                if (!mapped[page])
                {
                    w.WriteLine($"map dma {Hex(iova)} {Hex(Buffer(random))} 0x1000 rw");
                    mapped[page] = true;
                    ops++;
                }

                w.WriteLine($"dma 0x100 - {Hex(iova + ((ulong)random.Next(512) * 8))} {(roll % 2 == 0 ? "r" : "w")}");
            }
            else
            {
                w.WriteLine($"unmap dma {Hex(iova)} 0x1000");
                mapped[page] = false;
            }

            ops++;
        }
    }

    private static void Stream(TextWriter w, long count)
    {
        const ulong Chunk = 0x1_0000;
        const ulong StreamIova = 0x10_0000_0000;
        long ops = 0;
        for (ulong chunk = 0; ops < count; chunk++)
        {
            ulong iova = StreamIova + (chunk * Chunk);
            ulong pa = DataBase + ((chunk * Chunk) % (DataPages * Page));
            w.WriteLine($"map dma {Hex(iova)} {Hex(pa)} {Hex(Chunk)} rw");
            for (ulong offset = 0; offset < Chunk; offset += Page)
            {
                w.WriteLine($"dma 0x100 - {Hex(iova + offset)} w");
            }

            w.WriteLine($"unmap dma {Hex(iova)} {Hex(Chunk)}");
            ops += 2 + (long)(Chunk / Page);
        }
    }

    private static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
