#!/usr/bin/env python3
"""Folds `perf script` output (stdin) into one line per distinct stack, `root;…;leaf COUNT`, the input of
flame graph tools (inferno-flamegraph, flamegraph.pl, speedscope). Frames are function names without
offsets; generic parameters are kept."""
import collections
import re
import sys

stacks = collections.Counter()
frames = []
FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.*?)(?:\+0x[0-9a-f]+)?\s+\(([^)]*)\)\s*$")


def flush():
    if frames:
        stacks[";".join(reversed(frames))] += 1
    frames.clear()


for line in sys.stdin:
    if not line.strip():
        flush()
        continue
    if not line[0].isspace():
        flush()
        continue
    m = FRAME.match(line)
    if m:
        name = m.group(1)
        if name == "[unknown]":
            name = "[" + m.group(2).rsplit("/", 1)[-1] + "]"
        frames.append(name.replace(";", ":"))
flush()
for stack, count in stacks.most_common():
    print(f"{stack} {count}")
