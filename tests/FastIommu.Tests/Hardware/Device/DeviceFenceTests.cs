using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Memory;
using FastIommu.PageTables;
using FastIommu.Tests.Support;

namespace FastIommu.Tests.Hardware.Device;

/// <summary>Memory that holds the first reader of one address right after the read, until released: a walk paused
/// with a table entry in hand.</summary>
internal sealed class BlockingMemory(IMemoryAccess inner) : IMemoryAccess, IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);
    private readonly ManualResetEventSlim _held = new();
    private readonly ManualResetEventSlim _released = new();
    private int _armed = 1;

    public ulong BlockAfterReading { get; set; } = ulong.MaxValue;

    /// <summary>Runs on the held thread instead of blocking, when set (for a walk that fences from its own callback).</summary>
    public Action? InsteadOfBlocking { get; set; }

    public bool WaitUntilHeld() => _held.Wait(Limit);

    public void Release() => _released.Set();

    public bool TryRead64(ulong pa, out ulong value)
    {
        bool ok = inner.TryRead64(pa, out value);
        if (pa == BlockAfterReading && Interlocked.Exchange(ref _armed, 0) == 1)
        {
            if (InsteadOfBlocking is { } action)
            {
                action();
            }
            else
            {
                _held.Set();
                _released.Wait(Limit);
            }
        }

        return ok;
    }

    public bool TryWrite64(ulong pa, ulong value) => inner.TryWrite64(pa, value);

    public bool TryCompareExchange64(ulong pa, ulong expected, ulong desired, out ulong observed) =>
        inner.TryCompareExchange64(pa, expected, desired, out observed);

    public bool TryRead(ulong pa, Span<byte> destination) => inner.TryRead(pa, destination);

    public bool TryWrite(ulong pa, ReadOnlySpan<byte> source) => inner.TryWrite(pa, source);

    public void Dispose()
    {
        _held.Dispose();
        _released.Dispose();
    }
}

/// <summary>
/// A driver's unmap, as the page-table engine does it, against a walk in flight: 1 MiB at 0x8000_0000, a 1LVL DDT
/// at 0x8000_0000 (device 1: Sv39, PSCID 5, root from <see cref="PageTable{TMode}"/>), the command queue at
/// 0x8000_1000, page-table pages from 0x8008_0000. IOVA A = 0x4000_0000 maps PaA and C = 0x40A0_0000 maps PaC (same
/// level-1 table, another level-0 table), so unmapping A frees exactly A's level-0 table X, and mapping
/// B = 0x4020_0000 afterwards takes X again (the allocator is LIFO) with B's leaf in X's entry 0, A's old slot.
/// </summary>
internal sealed class FenceScenario : IDisposable
{
    public const ulong Ddt = 0x8000_0000;
    public const ulong CommandQueue = 0x8000_1000;
    public const ulong A = 0x4000_0000;
    public const ulong B = 0x4020_0000;
    public const ulong C = 0x40A0_0000;
    public const ulong PaA = 0x9000_0000;
    public const ulong PaB = 0xA000_0000;
    public const ulong PaC = 0x9100_0000;
    private const PageProtection Rwu = PageProtection.Read | PageProtection.Write | PageProtection.User;

    public FenceScenario()
    {
        Memory = PhysicalMemory.Allocate(0x10_0000, Ddt);
        Allocator = new PageAllocator(Memory, 0x8008_0000, 0x8_0000);
        Table = new PageTable<Sv39>(Allocator);
        Table.Map(A, PaA, 0x1000, Rwu);
        Table.Map(C, PaC, 0x1000, Rwu);
        Level1Table = PpnOf(Memory.Qword(Table.RootAddress + 8));        // root[1]
        Level1Entry = Level1Table;                                         // VPN[1] of A is 0
        TableX = PpnOf(Memory.Qword(Level1Entry));
        Memory.Qword(Ddt + 0x20) = 0x1;                                    // device 1: tc V
        Memory.Qword(Ddt + 0x30) = 5UL << 12;                              // ta: PSCID 5
        Memory.Qword(Ddt + 0x38) = (8UL << 60) | (Table.RootAddress >> 12); // fsc: Sv39
        Access = new BlockingMemory(new PhysicalMemoryAccess(Memory)) { BlockAfterReading = Level1Entry };
    }

    public PhysicalMemory Memory { get; }

    public PageAllocator Allocator { get; }

    public PageTable<Sv39> Table { get; }

    public BlockingMemory Access { get; }

    public ulong Level1Table { get; }

    public ulong Level1Entry { get; }

    public ulong TableX { get; }

    public static ulong PpnOf(ulong entry) => ((entry >> 10) & ((1UL << 44) - 1)) << 12;

    /// <summary>After the invalidation and its fence, as a driver does: free what the unmap unlinked, map B.</summary>
    public void FreeAndReuse(InvalidationGather gather)
    {
        gather.Complete();
        Table.Map(B, PaB, 0x1000, Rwu);
    }

    /// <summary>True when B's level-0 table is X again, with B's leaf at entry 0: the premise of the race.</summary>
    public bool TableXReusedForB => PpnOf(Memory.Qword(Level1Table + 8)) == TableX && PpnOf(Memory.Qword(TableX)) == PaB;

    public void Dispose()
    {
        Access.Dispose();
        Table.Dispose();
        Memory.Dispose();
    }
}

/// <summary>IOFENCE.C waits for the walks that began before it (spec: a completed IOFENCE.C means every earlier
/// command has completed; a driver then frees the table pages an invalidation unlinked).</summary>
public class DeviceFenceTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    private static RiscVIommu Device(FenceScenario s)
    {
        var device = new RiscVIommu(s.Access, new Capabilities(DeviceHarness.Capabilities));
        device.Write64(0x10, 0x2 | ((FenceScenario.Ddt >> 12) << 10));                 // ddtp 1LVL
        device.Write64(0x18, ((FenceScenario.CommandQueue >> 12) << 10) | 5);          // cqb: 64 entries
        device.Write32(0x48, 1);                                                        // cqen
        return device;
    }

    /// <summary>IOTINVAL.VMA for PSCID 5 (AV = 0) and IOFENCE.C at cqt, then the cqt write that processes them.</summary>
    private static void InvalidateAndFence(RiscVIommu device, FenceScenario s, int tail)
    {
        Command[] commands = [Command.IotinvalVma(false, 0, true, 5, false, 0), Command.IofenceC(false, false, false, false)];
        foreach (Command command in commands)
        {
            ulong slot = FenceScenario.CommandQueue + ((ulong)tail * 16);
            s.Memory.Qword(slot) = command.Dword0;
            s.Memory.Qword(slot + 8) = command.Dword1;
            tail++;
        }

        device.Write32(0x24, (uint)tail);
    }

    [Test]
    public void Iofence_c_waits_for_a_walk_that_began_before_it_so_the_walk_never_reads_a_reused_table()
    {
        // Interleaving: the walk of A reads the level-1 entry (pointing to X) and is held. The driver unmaps A (X is
        // unlinked and gathered), submits IOTINVAL.VMA + IOFENCE.C, and once the fence completes frees X and maps B,
        // which reuses X. The fence must not complete while the walk is held; the walk must never return B's PA.
        using var s = new FenceScenario();
        RiscVIommu device = Device(s);
        TranslationResult during = default;
        var walker = new Thread(() => during = device.Translate(new TranslationRequest(1, FenceScenario.A + 0x123, AccessType.Read)));
        walker.Start();
        Assert.That(s.Access.WaitUntilHeld(), Is.True, "the walk read the level-1 entry and is held");

        var gather = new InvalidationGather();
        using var fenceWaits = PausePoint.Arm("Translator.FenceWaits");
        var driver = Task.Run(() =>
        {
            s.Table.Unmap(FenceScenario.A, 0x1000, gather);
            InvalidateAndFence(device, s, 0);
            s.FreeAndReuse(gather);
        });
        var waits = Task.Run(fenceWaits.WaitUntilHeld);
        Task.WaitAny([driver, waits], Limit);
        bool fenceReachedTheWalk = waits.IsCompletedSuccessfully;
        fenceWaits.Release();
        // Past the point, the fence waits for the held walk: it cannot have completed.
        bool fenceCompletedWhileTheWalkWasHeld = driver.IsCompleted;
        s.Access.Release();
        Assert.That(walker.Join(Limit), Is.True, "the walk finishes");
        Assert.That(driver.Wait(Limit), Is.True, "the fence completes once the walk has ended");
        Assert.Multiple(() =>
        {
            Assert.That(fenceReachedTheWalk, Is.True, "IOFENCE.C found the walk in flight and waited for it");
            Assert.That(fenceCompletedWhileTheWalkWasHeld, Is.False, "IOFENCE.C completed while a walk that began before it was still reading tables");
            Assert.That(!during.Success || during.PhysicalAddress == FenceScenario.PaA + 0x123, Is.True,
                $"the walk of A returned {during}: a PA never mapped for A (B's, through the reused table)");
            Assert.That(s.TableXReusedForB, Is.True, "premise: B's level-0 table is the page X freed by the unmap");
            Assert.That(device.Translate(new TranslationRequest(1, FenceScenario.B, AccessType.Read)).PhysicalAddress,
                Is.EqualTo(FenceScenario.PaB), "B translates");
            Assert.That(device.Translate(new TranslationRequest(1, FenceScenario.A, AccessType.Read)).Success, Is.False, "A is unmapped");
        });
    }

    [Test]
    public void Iofence_c_processed_by_a_walk_of_its_own_thread_does_not_wait_for_that_walk()
    {
        // A memory callback of the walk itself runs the command queue (an emulator whose bus model processes commands
        // on the thread that touches memory): the fence must not wait for the walk it is called from.
        using var s = new FenceScenario();
        RiscVIommu device = Device(s);
        s.Access.InsteadOfBlocking = () => InvalidateAndFence(device, s, 0);
        var walker = Task.Run(() => device.Translate(new TranslationRequest(1, FenceScenario.A, AccessType.Read)));
        Assert.That(walker.Wait(Limit), Is.True, "the walk, and the fence inside it, finish");
        Assert.That(device.Read32(0x20), Is.EqualTo(2u), "cqh passed both commands");
    }
}
