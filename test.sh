#!/usr/bin/env bash
# Runs every test of FastIommu: the NUnit suite (C# library) and the C tests (ctest).
# Exits non-zero when any test fails. Needs only the .NET SDK, gcc and cmake.
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

echo "== NUnit tests"
dotnet test FastIommu.sln -c Release --logger "console;verbosity=normal"

# C tests: every CMake project under native-layout/ and bench/ that declares tests.
for dir in native-layout bench/c-baseline; do
  if [ -f "$dir/CMakeLists.txt" ]; then
    echo "== C tests in $dir"
    build="build/$(echo "$dir" | tr / -)"
    cmake -S "$dir" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j 2
    ctest --test-dir "$build" --output-on-failure
  fi
done
