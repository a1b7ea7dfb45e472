#!/usr/bin/env bash
# Runs every test of FastIommu: the NUnit suite (C# library) and the C tests (ctest).
# Exits non-zero when any test fails, and ends with one line "tests: N passed, N failed".
# Needs the .NET SDK, gcc and cmake (native-layout publishes libfastiommu.so with NativeAOT through CMake);
# valgrind for the memcheck tests (skipped without it).
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
passed=0
failed=0
status=0

echo "== NUnit tests"
if ! dotnet test FastIommu.sln -c Release --logger "trx;LogFileName=results.trx" --results-directory "$log/trx" \
     --logger "console;verbosity=normal" 2>&1 | tee "$log/dotnet.txt"; then
  status=1
fi
# Count from the TRX summary, which dotnet test writes even when tests fail.
for trx in "$log"/trx/*.trx; do
  [ -f "$trx" ] || continue
  p=$(grep -o 'passed="[0-9]*"' "$trx" | head -1 | tr -dc 0-9)
  f=$(grep -o 'failed="[0-9]*"' "$trx" | head -1 | tr -dc 0-9)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done

# C tests: every CMake project under native-layout/ and bench/c-baseline that declares tests.
for dir in native-layout bench/c-baseline; do
  if [ -f "$dir/CMakeLists.txt" ]; then
    echo "== C tests in $dir"
    build="build/$(echo "$dir" | tr / -)"
    if cmake -S "$dir" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$build" -j 2 \
       && ctest --test-dir "$build" --output-on-failure 2>&1 | tee "$log/ctest.txt"; then
      :
    else
      status=1
    fi
    # ctest closes with "N% tests passed, F tests failed out of T".
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log/ctest.txt" 2>/dev/null | tail -1 || true)
    if [ -n "$line" ]; then
      f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
      t=$(echo "$line" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
      passed=$((passed + t - f))
      failed=$((failed + f))
    fi
  fi
done

if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "no test ran" >&2
  status=1
fi
[ "$failed" -eq 0 ] || status=1
echo "tests: $passed passed, $failed failed"
exit $status
