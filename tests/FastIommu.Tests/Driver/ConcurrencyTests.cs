using FastIommu.Driver;
using FastIommu.Formats.RiscV;
using FastIommu.Hardware;
using FastIommu.Tests.Support;

namespace FastIommu.Tests.Driver;

/// <summary>Races bounded in time (each runs a fixed number of rounds; a deadlock or hang fails on a timeout).</summary>
[TestFixture]
[Category("Stress")]
public class ConcurrencyTests
{
    private const ulong Iova = 0x4000_0000;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Test]
    public void OppositeReplacesDoNotDeadlockAndEveryDeviceIsAlwaysOnOneOfTheTwoDomains()
    {
        using var bed = new DriverBed(instances: 2);
        IommuDriver driver = bed.Driver;
        PagingDomain a = driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = driver.CreatePagingDomain(PagingModeKind.Sv48);
        a.Map(Iova, DriverBed.Data(1), 4096, DmaProtection.Read);
        b.Map(Iova, DriverBed.Data(2), 4096, DmaProtection.Read);
        DeviceGroup g1 = driver.CreateGroup();
        DeviceGroup g2 = driver.CreateGroup();
        for (uint d = 0; d < 3; d++)
        {
            bed.Instance(0).AddDevice(0x10 + d, g1);
            bed.Instance(1).AddDevice(0x10 + d, g1);
            bed.Instance(0).AddDevice(0x20 + d, g2);
        }

        driver.Attach(g1, a);
        driver.Attach(g2, b);
        const int Rounds = 150;
        using var stop = new CancellationTokenSource();
        long translations = 0, transient = 0;
        string? wrong = null;
        using var readerRunning = new ManualResetEventSlim();
        var reader = Task.Run(() =>
        {
            var rng = new Random(7);
            readerRunning.Set();
            while (!stop.IsCancellationRequested)
            {
                int instance = rng.Next(2);
                uint device = (uint)((instance == 1 || rng.Next(2) == 0 ? 0x10 : 0x20) + rng.Next(3));
                TranslationResult r = bed.Translate(instance, device, Iova);
                Interlocked.Increment(ref translations);
                if (r.Success ? r.PhysicalAddress != DriverBed.Data(1) && r.PhysicalAddress != DriverBed.Data(2) : r.Cause != FaultCause.DdtEntryNotValid)
                {
                    wrong ??= $"instance {instance} device 0x{device:x}: {r}";
                }

                if (!r.Success)
                {
                    transient++; // the context's V = 0 window of a replace (spec order), never another domain
                }
            }
        });
        Assert.That(readerRunning.Wait(Limit), Is.True, "the reader started");
        // At least Rounds each, and on until the reader has seen plenty (bounded by 20 × Rounds).
        bool More(int i) => i < Rounds || (Interlocked.Read(ref translations) < 20_000 && i < 20 * Rounds);
        var t1 = Task.Run(() =>
        {
            for (int i = 0; More(i); i++)
            {
                driver.Replace(g1, b);
                driver.Replace(g1, a);
            }
        });
        var t2 = Task.Run(() =>
        {
            for (int i = 0; More(i); i++)
            {
                driver.Replace(g2, a);
                driver.Replace(g2, b);
            }
        });
        Assert.That(Task.WaitAll([t1, t2], Limit), Is.True, "opposite replaces finished: no deadlock");
        stop.Cancel();
        reader.Wait(Limit);
        Assert.That(wrong, Is.Null, "every translation went to A or B (or hit a replace's invalid-context window)");
        Assert.That(translations, Is.GreaterThan(0), "the reader ran");
        TestContext.Out.WriteLine($"{translations} translations, {transient} in a replace's V = 0 window");
        foreach (IommuDevice device in g1.Devices)
        {
            Assert.That(bed.Translate(device.Instance == bed.Instance(0) ? 0 : 1, device.DeviceId, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), $"{device} ends on A");
        }

        foreach (IommuDevice device in g2.Devices)
        {
            Assert.That(bed.Translate(0, device.DeviceId, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(2)), $"{device} ends on B");
        }

        Assert.That((a.AttachedCount, b.AttachedCount), Is.EqualTo((6, 3)), "user counts");
        Assert.That((bed.Instance(0).PscidsInUse, bed.Instance(1).PscidsInUse), Is.EqualTo((2, 1)), "one bond per (domain, instance)");
    }

    [Test]
    public void MapUnmapSyncOnDisjointRangesWhileAThirdThreadTranslates()
    {
        using var bed = new DriverBed();
        IommuDevice device = bed.Instance().AddDevice(0x1);
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        bed.Driver.Attach(device.Group, domain);
        const int Pages = 64, Rounds = 200;
        ulong Base(int worker) => Iova + ((ulong)worker << 30); // different 1 GiB regions: tables come and go independently
        ulong Pa(int worker, int page) => DriverBed.Data((worker * Pages) + page);

        using var stop = new CancellationTokenSource();
        string? wrong = null;
        long hits = 0;
        var reader = Task.Run(() =>
        {
            var rng = new Random(11);
            while (!stop.IsCancellationRequested)
            {
                int worker = rng.Next(2), page = rng.Next(Pages);
                TranslationResult r = bed.Translate(0, 0x1, Base(worker) + ((ulong)page << 12));
                if (r.Success)
                {
                    hits++;
                    if (r.PhysicalAddress != Pa(worker, page))
                    {
                        wrong ??= $"worker {worker} page {page}: {r}";
                    }
                }
                else if (r.Cause != FaultCause.ReadPageFault)
                {
                    wrong ??= $"worker {worker} page {page}: unexpected {r}";
                }
            }
        });
        Task[] workers = [.. Enumerable.Range(0, 2).Select(w => Task.Run(() =>
        {
            var rng = new Random(w);
            for (int round = 0; round < Rounds; round++)
            {
                int first = rng.Next(Pages / 2), count = 1 + rng.Next(Pages / 2);
                domain.Map(Base(w) + ((ulong)first << 12), Pa(w, first), (ulong)count << 12, DmaProtection.Read);
                domain.UnmapAndSync(Base(w) + ((ulong)first << 12), (ulong)count << 12);
            }
        }))];
        Assert.That(Task.WaitAll(workers, Limit), Is.True, "workers finished");
        stop.Cancel();
        reader.Wait(Limit);
        Assert.That(wrong, Is.Null, "a translation is the right page or a page fault, never another page");
        for (int w = 0; w < 2; w++)
        {
            for (int page = 0; page < Pages; page++)
            {
                Assert.That(bed.Translate(0, 0x1, Base(w) + ((ulong)page << 12)).Success, Is.False, "everything unmapped and invalidated");
            }
        }

        TestContext.Out.WriteLine($"{hits} hits; {bed.Instance().Counters}");
    }

    [Test]
    public void BindsAndUnbindsRace()
    {
        using var bed = new DriverBed();
        IommuDevice[] devices = [.. Enumerable.Range(0, 4).Select(i => bed.Instance().AddDevice((uint)(0x10 + i), pasidBits: 8, features: DeviceFeatures.Sva))];
        PagingDomain[] spaces = [.. Enumerable.Range(0, 2).Select(_ => bed.Driver.CreateAddressSpace(PagingModeKind.Sv39))];
        foreach (PagingDomain space in spaces)
        {
            space.Map(Iova, DriverBed.Data(9), 4096, DmaProtection.Read);
        }

        Task[] threads = [.. Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            var rng = new Random(t);
            for (int i = 0; i < 200; i++)
            {
                IommuDevice device = devices[rng.Next(devices.Length)];
                PagingDomain space = spaces[rng.Next(spaces.Length)];
                SvaHandle h = bed.Driver.BindSva(device, space);
                TranslationResult r = bed.Translate(0, device.DeviceId, h.Pasid, Iova);
                Assert.That(r.PhysicalAddress, Is.EqualTo(DriverBed.Data(9)), "bound: translates");
                bed.Driver.UnbindSva(h);
            }
        }))];
        Assert.That(Task.WaitAll(threads, Limit), Is.True, "no deadlock");
        Assert.That(bed.Driver.PasidsInUse, Is.Zero, "every PASID freed");
        Assert.That(spaces.Select(s => (s.SvaPasid, s.AttachedCount)), Is.All.EqualTo(((uint?)null, 0)), "no bind left");
        Assert.That(devices.SelectMany(d => d.AttachedPasids), Is.Empty, "no PASID attached");
        Assert.That(bed.Instance().PscidsInUse, Is.Zero, "no bond left");
    }

    [Test]
    public void ABondIsLinkedBeforeItsIdGoesLiveSoASyncMeanwhileCoversIt()
    {
        using var bed = new DriverBed(instances: 2);
        PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        domain.Map(Iova, DriverBed.Data(1), 2 * 4096, DmaProtection.Read);
        bed.Driver.Attach(bed.Instance(0).AddDevice(0x1).Group, domain);
        IommuDevice late = bed.Instance(1).AddDevice(0x1);

        using var pause = PausePoint.Arm("Driver.BondLinked");
        var attach = Task.Run(() => bed.Driver.Attach(late.Group, domain));
        pause.WaitUntilHeld(); // instance 1's bond is linked; its DC is not written yet
        long before = bed.Instance(1).Counters.Invalidations;
        domain.UnmapAndSync(Iova, 4096);
        Assert.That(bed.Instance(1).Counters.Invalidations - before, Is.EqualTo(1), "the sync already covers the instance being attached");
        pause.Release();
        Assert.That(attach.Wait(Limit), Is.True, "attach completes");
        Assert.That(bed.Translate(1, 0x1, Iova).Success, Is.False, "the late device never sees the unmapped page");
        Assert.That(bed.Translate(1, 0x1, Iova + 0x1000).PhysicalAddress, Is.EqualTo(DriverBed.Data(2)), "but sees the rest");
    }

    [Test]
    public void OppositeReplacesTakeTheDomainGatesInOneOrder()
    {
        using var bed = new DriverBed();
        PagingDomain a = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        PagingDomain b = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
        DeviceGroup g1 = bed.Instance().AddDevice(0x1).Group;
        DeviceGroup g2 = bed.Instance().AddDevice(0x2).Group;
        bed.Driver.Attach(g1, a);
        bed.Driver.Attach(g2, b);
        // Hold the first replace with one gate taken (a's: the lower id), then start the opposite one.
        using var pause = PausePoint.Arm("Driver.FirstDomainLocked");
        var first = Task.Run(() => bed.Driver.Replace(g1, b));
        pause.WaitUntilHeld();
        var second = Task.Run(() => bed.Driver.Replace(g2, a));
        Assert.That(second.Wait(200), Is.False, "the opposite replace waits at a's gate (had it taken b's first, this would deadlock)");
        pause.Release();
        Assert.That(Task.WaitAll([first, second], TimeSpan.FromSeconds(10)), Is.True, "both finish: no deadlock");

        Assert.That((g1.Domain, g2.Domain), Is.EqualTo(((IommuDomain)b, (IommuDomain)a)), "both applied");
    }

    [Test]
    public void TheDriverWorksWithADeviceThatRunsItsQueueOnItsOwnThread()
    {
        // An emulator's model: the doorbell only records cqt; a device thread runs the queue when it gets to it.
        using var bed = new DriverBed(options: new IommuDriverOptions { CommandQueueLog2Entries = 3 },
            deviceOptions: new IommuOptions { ProcessCommandsOnTailWrite = false });
        using var stop = new CancellationTokenSource();
        var deviceThread = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                bed.Hardware().ProcessCommands();
                Thread.Yield();
            }
        });
        bed.Mmio().ProcessOnDoorbell = false;
        try
        {
            DeviceGroup group = bed.Driver.CreateGroup();
            for (uint d = 0; d < 4; d++)
            {
                bed.Instance().AddDevice(d, group, pasidBits: 8, features: DeviceFeatures.Sva);
            }

            PagingDomain domain = bed.Driver.CreatePagingDomain(PagingModeKind.Sv39);
            domain.Map(Iova, DriverBed.Data(1), 64 * 4096, DmaProtection.Read);
            bed.Driver.Attach(group, domain);
            Assert.That(bed.Translate(0, 2, Iova).PhysicalAddress, Is.EqualTo(DriverBed.Data(1)), "attached (every DC update waited for its fences)");
            // 32 page-addressed commands through an 8-entry ring: the writer waits for cqh again and again.
            domain.UnmapAndSync(Iova, 32 * 4096);
            Assert.That(bed.Translate(0, 2, Iova).Success, Is.False, "unmapped and invalidated");
            Assert.That(bed.Translate(0, 2, Iova + (32 * 4096)).Success, Is.True, "the rest stays");
            SvaHandle h = bed.Driver.BindSva(group.Devices[0], bed.Driver.CreateAddressSpace(PagingModeKind.Sv48));
            bed.Driver.UnbindSva(h);
            bed.Driver.Detach(group);
            Assert.That(bed.Translate(0, 2, Iova + (32 * 4096)).Cause, Is.EqualTo(FaultCause.DdtEntryNotValid), "detached");
        }
        finally
        {
            stop.Cancel();
            deviceThread.Wait(Limit);
        }
    }
}
