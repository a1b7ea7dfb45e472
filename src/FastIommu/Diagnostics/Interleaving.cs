using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace FastIommu.Diagnostics;

/// <summary>
/// Named points in the lock-free code where a test can pause a thread, to force one exact interleaving (a
/// preemption between two stores, say) deterministically instead of hoping a stress test hits it.
/// </summary>
/// <remarks>
/// <para>Off unless the process sets the AppContext switch <c>FastIommu.Testing.Interleaving</c> before the first
/// use (the test project does, in its runtimeconfig). Call sites read
/// <c>if (Interleaving.Enabled) Interleaving.Reach("name");</c>: <see cref="Enabled"/> is a static readonly field,
/// which the tier-1 JIT treats as a constant, so in every other process the call and its branch are compiled
/// away. Ahead-of-time builds (the native library) declare the switch false and trimmable, and the
/// <see cref="FeatureSwitchDefinitionAttribute"/> lets the AOT compiler fold <see cref="Enabled"/> the same way.</para>
/// <para>Point names are <c>Area.Event</c> (for example <c>PageTable.DeathCounted</c>); each is documented where
/// it is reached. A point is reached by whatever thread passes it; the test side decides which thread to stop.</para>
/// </remarks>
internal static class Interleaving
{
    /// <summary>The switch that turns the points on for a whole process.</summary>
    internal const string Switch = "FastIommu.Testing.Interleaving";

    private static readonly bool s_enabled = AppContext.TryGetSwitch(Switch, out bool on) && on;

    /// <summary>True only in a process that set <see cref="Switch"/>.</summary>
    [FeatureSwitchDefinition(Switch)]
    internal static bool Enabled => s_enabled;

    private static Action<string>? s_hook;

    /// <summary>What runs at each point reached (tests install it; null when nothing listens).</summary>
    internal static Action<string>? Hook
    {
        get => Volatile.Read(ref s_hook);
        set => Volatile.Write(ref s_hook, value);
    }

    /// <summary>The calling thread passes the named point; a listening test may hold it here.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void Reach(string point) => Hook?.Invoke(point);
}
