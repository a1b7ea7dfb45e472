#!/usr/bin/env bash
# Instructions per translation of the hardware model's hit and miss paths, counted by valgrind's callgrind (which
# does not depend on machine load): builds the benchmark project, runs its --callgrind harness
# (MissInstructionCounts.cs) under callgrind, and prints each case's instructions per translation and its top
# functions. Usage: bench/callgrind-miss.sh [--count N] [--case NAME] [--top K]
#
# The JIT compiles everything fully optimised at first call (DOTNET_TieredCompilation=0), so what is counted does
# not depend on when tiering happens under valgrind; TIERED=1 keeps tiering (tier-1 code after the harness's warm-up,
# less deterministic); KEEP=1 keeps the dumps (their directory is printed by bash -x) and the perf map, for reading counts
# per instruction with bench/callgrind_jit_lines.py (its docstring has the command). W^X is off (valgrind does not follow its double mapping); the perf map names JIT code.
# JitEnableOptionalRelocs=0: under valgrind the code heap lands more than 2 GiB from the runtime, the JIT's rel32
# encodings then hit a noway_assert, and a release JIT silently recompiles every method that calls anything with
# MinOpts (no inlining): the counts would be of code the real process never runs (dotnet/runtime#100600).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
count=20000
top=12
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --top) top="$2"; shift 2 ;;
    --case) args+=(--case "$2"); shift 2 ;;
    *) echo "usage: $0 [--count N] [--case NAME] [--top K]" >&2; exit 2 ;;
  esac
done

dotnet build -c Release "$root/bench/FastIommu.Benchmarks" -v q -nologo >/dev/null
dll="$root/bench/FastIommu.Benchmarks/bin/Release/net10.0/FastIommu.Benchmarks.dll"
out="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$out"' EXIT

if [ "${TIERED:-0}" = "1" ]; then
  export DOTNET_TieredPGO=0 DOTNET_TC_CallCountingDelayMs=0
else
  export DOTNET_TieredCompilation=0
fi
export DOTNET_JitEnableOptionalRelocs=0 DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 DOTNET_gcServer=0 DOTNET_GCgen0size=0x4000000

valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
  --callgrind-out-file="$out/callgrind.out.%p" \
  dotnet "$dll" --callgrind --count "$count" "${args[@]}" >"$out/stdout" 2>"$out/stderr" || {
  cat "$out/stdout" "$out/stderr" >&2
  exit 1
}

pid="$(ls "$out" | sed -n 's/^callgrind\.out\.\([0-9]*\).*/\1/p' | head -n 1)"
python3 "$root/bench/callgrind_report.py" "$out" "$pid" "$top"
echo
grep -B1 '^  requests' "$out/stdout" || true  # the counting cases' hit rates
[ -n "${KEEP:-}" ] || rm -f "/tmp/perf-$pid.map" "/tmp/perfinfo-$pid.map"  # KEEP=1 keeps the dumps and the perf map
