using FastIommu.Diagnostics;

namespace FastIommu.Tests.Support;

public class PausePointTests
{
    [Test]
    public void The_test_process_turns_the_points_on() =>
        Assert.That(Interleaving.Enabled, Is.True, "the test project's runtimeconfig sets the switch");

    [Test]
    public void A_thread_is_held_at_the_armed_point_until_released()
    {
        int after = 0;
        using var pause = PausePoint.Arm("Test.Point");
        var worker = Task.Run(() =>
        {
            Interleaving.Reach("Test.Other");   // not armed: passes
            Interleaving.Reach("Test.Point");
            Volatile.Write(ref after, 1);
        });
        pause.WaitUntilHeld();
        Assert.That(Volatile.Read(ref after), Is.Zero, "the worker is held before the statement after the point");
        pause.Release();
        Assert.That(worker.Wait(TimeSpan.FromSeconds(10)), Is.True, "released, the worker finishes");
        Assert.That(after, Is.EqualTo(1));
    }

    [Test]
    public void A_filter_picks_which_thread_is_held()
    {
        using var pause = PausePoint.Arm("Test.Point", () => Thread.CurrentThread.Name == "chosen");
        Interleaving.Reach("Test.Point");   // this thread is not chosen: passes at once
        var chosen = new Thread(() => Interleaving.Reach("Test.Point")) { Name = "chosen" };
        chosen.Start();
        pause.WaitUntilHeld();
        Assert.That(chosen.IsAlive, Is.True, "the chosen thread is held");
        pause.Release();
        Assert.That(chosen.Join(TimeSpan.FromSeconds(10)), Is.True);
    }
}
