namespace FastIommu.Hardware;

/// <summary>The <c>ddtp.iommu_mode</c> values an implementation accepts (WARL: a write of any other keeps the old mode).
/// Off and Bare are mandatory (spec "Device-directory-table pointer"), so they are always accepted.</summary>
[Flags]
public enum SupportedDdtModes
{
    OneLevel = 1 << 2,
    TwoLevel = 1 << 3,
    ThreeLevel = 1 << 4,
    All = OneLevel | TwoLevel | ThreeLevel,
}

/// <summary>How a <see cref="RiscVIommu"/> behaves where the spec leaves the choice to the implementation.</summary>
public sealed class IommuOptions
{
    /// <summary>When true (the default) a write to <c>cqt</c> (or anything else that may restart the command queue,
    /// such as clearing <c>cqcsr.cmd_ill</c>) processes the queued commands before the write returns.
    /// When false the emulator calls <see cref="RiscVIommu.ProcessCommands"/> when it wants the device to run,
    /// e.g. from its own device thread or after a delay that models hardware latency.</summary>
    public bool ProcessCommandsOnTailWrite { get; init; } = true;

    /// <summary>The device-directory-table depths this IOMMU implements (1LVL/2LVL/3LVL); all by default.</summary>
    public SupportedDdtModes DdtModes { get; init; } = SupportedDdtModes.All;

    /// <summary>Reset value of <c>ddtp.iommu_mode</c>: Off (the spec's recommendation, the default) or Bare.</summary>
    public bool ResetToBare { get; init; }
}
