using FastIommu.Diagnostics;

namespace FastIommu.Tests.Support;

/// <summary>
/// Holds the next thread (optionally: the next thread that satisfies a filter) that reaches a named
/// <see cref="Interleaving"/> point, until the test releases it. Deterministic: the test waits for the thread to be
/// held, does what the interleaving needs, then releases it. Timeouts only turn a hang into a failure.
/// </summary>
/// <example>
/// <code>
/// using var pause = PausePoint.Arm("PageTable.DeathCounted");
/// var unmapper = Task.Run(() => table.Unmap(iova, size, gather));
/// pause.WaitUntilHeld();        // the unmapper stands between the death CAS and the unlink
/// ... walk, observe ...
/// pause.Release();
/// unmapper.Wait();
/// </code>
/// </example>
public sealed class PausePoint : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);
    private static readonly Lock Gate = new();
    private static readonly List<PausePoint> Armed = [];

    private readonly string _point;
    private readonly Func<bool>? _filter;
    private readonly ManualResetEventSlim _held = new();
    private readonly ManualResetEventSlim _released = new();
    private int _taken;

    private PausePoint(string point, Func<bool>? filter)
    {
        _point = point;
        _filter = filter;
    }

    /// <summary>Pauses the next thread that reaches <paramref name="point"/> (and for which
    /// <paramref name="filter"/>, run on that thread, says true).</summary>
    public static PausePoint Arm(string point, Func<bool>? filter = null)
    {
        if (!Interleaving.Enabled)
        {
            throw new InvalidOperationException($"Interleaving points are off: set the AppContext switch {Interleaving.Switch}.");
        }

        var pause = new PausePoint(point, filter);
        lock (Gate)
        {
            Armed.Add(pause);
            Interleaving.Hook = OnReach;
        }

        return pause;
    }

    /// <summary>Pauses the next time <paramref name="thread"/> itself reaches <paramref name="point"/>.</summary>
    public static PausePoint ArmFor(string point, int managedThreadId) =>
        Arm(point, () => Environment.CurrentManagedThreadId == managedThreadId);

    /// <summary>True once a thread is held at the point.</summary>
    public bool IsHeld => _held.IsSet;

    /// <summary>Blocks until a thread is held at the point (fails the test after a generous limit).</summary>
    public void WaitUntilHeld()
    {
        if (!_held.Wait(Limit))
        {
            throw new TimeoutException($"No thread reached {_point} within {Limit.TotalSeconds} s.");
        }
    }

    /// <summary>Lets the held thread (or the next one that would be held) go on.</summary>
    public void Release() => _released.Set();

    /// <summary>Disarms the point and releases any held thread.</summary>
    public void Dispose()
    {
        lock (Gate)
        {
            Armed.Remove(this);
            if (Armed.Count == 0)
            {
                Interleaving.Hook = null;
            }
        }

        _released.Set();
    }

    private static void OnReach(string point)
    {
        PausePoint? match = null;
        lock (Gate)
        {
            foreach (PausePoint pause in Armed)
            {
                if (pause._point == point && Volatile.Read(ref pause._taken) == 0 && (pause._filter?.Invoke() ?? true))
                {
                    pause._taken = 1;
                    match = pause;
                    break;
                }
            }
        }

        if (match is null)
        {
            return;
        }

        match._held.Set();
        if (!match._released.Wait(Limit))
        {
            throw new TimeoutException($"The test did not release {point} within {Limit.TotalSeconds} s.");
        }
    }
}
