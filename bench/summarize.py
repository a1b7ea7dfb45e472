#!/usr/bin/env python3
"""Turns BenchmarkDotNet's CSV reports of the page-table suite into the README's table:
C# ns/op, C ns/op, C#/C ratio, allocation, target, met. Usage: python3 bench/summarize.py [results dir]."""
import csv
import glob
import os
import sys

# Target per case: C# mean at most this many times the C twin's mean.
TARGETS = {
    "MapUnmap 1x4K": 1.5,
    "MapUnmap 1x2M": 1.5,
    "MapUnmap 1x1G": 1.5,
    "MapUnmap 256x4K (1 call)": 1.5,
    "MapUnmap 256x2M (1 call)": 1.5,
    "Populate+teardown 1G of 4K": 1.5,
    "Translate seq 4M": 1.5,
    "Translate random 4M": 1.5,
    "Translate seq 1G": 1.5,
    "Translate random 1G": 1.5,
    "Populate 2x1G, 1 thread": 1.5,
    "Populate 2x1G, 2 threads": 1.5,
}
UNITS = {"ns": 1.0, "μs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def nanoseconds(text):
    value, unit = text.replace(",", "").split()
    return float(value) * UNITS[unit]


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "BenchmarkDotNet.Artifacts/results"
    rows = {}
    for path in sorted(glob.glob(os.path.join(results, "*PageTable*-report.csv"))):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                engine = row["Method"].rsplit("_", 1)[1]
                rows.setdefault(row["Categories"], {})[engine] = row
    print("| Case | C# ns/op | C ns/op | Ratio C#/C | C plain walk ns/op | C# allocated/op | Target | Met? |")
    print("|---|---:|---:|---:|---:|---:|---:|:---:|")
    for case, target in TARGETS.items():
        engines = rows.get(case)
        if not engines or "CSharp" not in engines or "C" not in engines:
            print(f"| {case} | n/a | n/a | | | | ≤ {target} | not run |")
            continue
        cs = nanoseconds(engines["CSharp"]["Mean"])
        c = nanoseconds(engines["C"]["Mean"])
        plain = f"{nanoseconds(engines['CPlainWalk']['Mean']):,.1f}" if "CPlainWalk" in engines else ""
        ratio = cs / c
        met = "yes" if ratio <= target else "no"
        print(f"| {case} | {cs:,.1f} | {c:,.1f} | {ratio:.2f} | {plain} | {engines['CSharp']['Allocated']} | ≤ {target} | {met} |")


if __name__ == "__main__":
    main()
