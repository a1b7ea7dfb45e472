#!/usr/bin/env python3
"""Instructions per translation, line by line, of one JIT-compiled method in a callgrind dump of the harness.

Run the harness with the dumps and the perf map kept, and the method's listing written with its code bytes:

    KEEP=1 DOTNET_JitDisasm='TranslateMissWithoutProcessId' DOTNET_JitDisasmWithCodeBytes=1 \\
      DOTNET_JitStdOutFile=/tmp/listing.txt bash -x bench/callgrind-miss.sh --case realistic-on 2>&1 | grep 'out='
    python3 bench/callgrind_jit_lines.py OUT_DIR realistic-on TranslateMissWithoutProcessId /tmp/listing.txt

OUT_DIR is the directory bash -x prints (out=...). The listing and the dump come from the same process, so the
method's code in the perf map and in the listing are the same bytes: each listing line gets the instructions
callgrind counted at its offset, divided by the case's translations. Lines that ran are printed with their count
(a listing's block labels too, for orientation); the total is the method's self count.
"""
import glob
import os
import re
import sys

from callgrind_report import read_dump


def main():
    directory, case, method, listing = sys.argv[1:5]
    dumps = glob.glob(os.path.join(directory, "callgrind.out.*"))
    pid = re.match(r"callgrind\.out\.(\d+)", os.path.basename(dumps[0])).group(1)

    # The method's code in the perf map (the last compilation of it, if several).
    rows = []
    with open(f"/tmp/perf-{pid}.map", errors="replace") as f:
        for line in f:
            start, size, name = line.rstrip("\n").split(" ", 2)
            if f"::{method}(" in name:
                rows.append((int(start, 16), int(size, 16)))
    if not rows:
        sys.exit(f"{method} is not in /tmp/perf-{pid}.map")
    start, size = rows[-1]

    # The case's dump and its self cost per instruction address.
    path, translations = None, 0
    for candidate in dumps:
        desc = read_dump(candidate)[0]
        if desc is not None and len(desc.split()) == 2 and desc.split()[0] == case:
            path, translations = candidate, int(desc.split()[1])
    if path is None:
        sys.exit(f"no dump of case {case} in {directory}")
    cost = {address - start: ir for address, (_, ir) in read_dump(path)[2].items() if start <= address < start + size}

    # The listing whose code bytes add up to the method's size: offset of each instruction.
    best = None
    for text in open(listing, errors="replace").read().split("; Assembly listing for method ")[1:]:
        header = text.split("\n", 1)[0]
        if f":{method}(" not in header and f":{method}[" not in header:  # a generic method: Name[T1,T2](...)
            continue
        offset, lines = 0, []
        for line in text.split("\n"):
            label = re.match(r"^(G_M\d+_IG\d+):.*offset=0x([0-9A-F]+)", line)
            code = re.match(r"\s+([0-9A-F]{2,})\s+([a-z]\S*.*)", line)
            if label:
                offset = int(label.group(2), 16)
                lines.append((None, label.group(1)))
            elif code:
                lines.append((offset, code.group(2).strip()))
                offset += len(bytes.fromhex(code.group(1)))
        if abs(offset - size) < 32:
            best = lines
    if best is None:
        sys.exit(f"no listing of {method} of {size} bytes in {listing}")

    total = 0.0
    for offset, text in best:
        if offset is None:
            print(f"{'':14}{text}")
            continue
        per = cost.get(offset, 0) / translations
        total += per
        if per > 0:
            print(f"{per:7.2f} {offset:5x}  {text}")
    print(f"{total:7.1f} instructions per translation in {method}")


if __name__ == "__main__":
    main()
