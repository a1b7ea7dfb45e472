#!/usr/bin/env python3
"""Instructions per translation from the dumps of the callgrind harness (bench/callgrind-miss.sh).

Each dump the harness makes is named "<case> <translations>" (callgrind's "desc: Trigger: Client Request: ...").
Per case: total Ir / translations, and the top functions by self instructions per translation, JIT code named
through the runtime's perf map (/tmp/perf-<pid>.map, DOTNET_PerfMapEnabled=1). The dumps must be written with
--dump-instr=yes --compress-pos=no --compress-strings=no (absolute instruction addresses, plain names).
"""
import bisect
import glob
import os
import re
import sys


def load_perf_map(pid):
    starts, ends, names = [], [], []
    path = f"/tmp/perf-{pid}.map"
    if not os.path.exists(path):
        return starts, ends, names
    rows = []
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) == 3:
                start, size = int(parts[0], 16), int(parts[1], 16)
                rows.append((start, start + size, parts[2]))
    rows.sort()
    for start, end, name in rows:
        starts.append(start)
        ends.append(end)
        names.append(name)
    return starts, ends, names


def short(name):
    # "[OptimizedTier1] FastIommu.Hardware.TranslatorEngine`1[...]::TranslateMiss(...)[Optimized]" -> Type::Method
    name = re.sub(r"^\[[^\]]*\]\s*", "", name)
    name = re.sub(r"\[(Optimized|OptimizedTier1|Tier0|Tier1|PreJIT|Instrumented)[^\]]*\]$", "", name)
    name = re.sub(r"\(.*$", "", name)
    name = re.sub(r"\[[^\[\]]*(\[[^\[\]]*\])*[^\[\]]*\]", "", name)
    return name.replace("FastIommu.Hardware.", "").replace("FastIommu.", "")


def read_dump(path):
    """One dump: its description (the harness's "<case> <translations>"), its total Ir, and each instruction
    address's self cost with the function callgrind names it under ({address: (fn, ir)}). A call's inclusive
    cost line is not a self cost and is skipped."""
    desc, total = None, None
    costs = {}
    fn = "?"
    skip_next = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("desc: Trigger: Client Request: "):
                desc = line[len("desc: Trigger: Client Request: "):].strip()
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
            elif line.startswith("fn="):
                fn = line[3:].strip()
            elif line.startswith("calls="):
                skip_next = True  # the next cost line is the call's inclusive cost
            elif line[:2] == "0x":
                if skip_next:
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) < 2:
                    continue
                address, ir = int(parts[0], 16), int(parts[-1])
                previous = costs.get(address)
                costs[address] = (fn, ir + (previous[1] if previous else 0))
    return desc, total, costs


def parse(path, perf):
    """desc, total and the self cost of each function (JIT code named through the perf map)."""
    starts, ends, names = perf
    desc, total, costs = read_dump(path)
    self_cost = {}
    for address, (fn, ir) in costs.items():
        i = bisect.bisect_right(starts, address) - 1
        name = short(names[i]) if i >= 0 and address < ends[i] else fn
        self_cost[name] = self_cost.get(name, 0) + ir
    return desc, total, self_cost


def main():
    directory, pid = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    perf = load_perf_map(pid)
    results = []
    for path in sorted(glob.glob(os.path.join(directory, f"callgrind.out.{pid}.*"))):
        desc, total, self_cost = parse(path, perf)
        if desc is None or total is None or len(desc.split()) != 2:
            continue
        case, translations = desc.split()
        results.append((case, int(translations), total, self_cost))
    if not results:
        print("no harness dumps found", file=sys.stderr)
        return 1
    for case, n, total, self_cost in results:
        print(f"{case:22s} {total / n:8.1f} instructions per translation  ({n} translations)")
    for case, n, total, self_cost in results:
        print(f"\n{case}: top functions, self instructions per translation")
        for name, ir in sorted(self_cost.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {ir / n:8.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
