namespace FastIommu.Tests.Support;

/// <summary>Files of the repository the tests read (headers, docs, the tests' own sources). Found from the test
/// assembly's folder upwards, not from [CallerFilePath]: CI builds with ContinuousIntegrationBuild, which maps source
/// paths to "/_/", so compiled-in paths do not exist on disk.</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FastIommu.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No FastIommu.sln above {AppContext.BaseDirectory}.");
    });

    /// <summary>The repository's root folder (the one holding FastIommu.sln).</summary>
    public static string Root => RootPath.Value;

    /// <summary>A path below the root, given as its parts.</summary>
    public static string Of(params string[] parts) => Path.Combine([Root, .. parts]);
}
