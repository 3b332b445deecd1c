#!/usr/bin/env python3
"""The code a request runs through, in cache lines: the yardstick for the
instruction cache, beside instructions.py's count of instructions.

    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=OUT SERVER ARGS...
    (send it N requests, then stop it)
    python3 tests/bench/code_footprint.py OUT --requests N [--by object|file|function] [--top K]

An instruction that ran on at least half of the N requests (callgrind's
count for its address is N/2 or more) is on a request's path; the
distinct 64-byte lines that hold such instructions are the code every
request fetches into the L1 instruction cache (32 KiB on the machines
here). A path larger than that cache is fetched again on each request:
tests/bench/README.md, "the code a request runs does not fit the
instruction cache", has the figures for final/ and h2o. Start-up code
runs once and stays under the threshold, so OUT may cover the whole run.

--by object sums the lines by program and library, file by the source
file of the function they belong to (code inlined from a header counts
for the function it was inlined into), function by function. Needs OUT
from `--dump-instr=yes` (callgrind's default counts by source line, not
by address) and without `--collect-jumps`. Standard library only.
"""
import argparse
import collections
import re
import sys

LINE_BYTES = 64
# "fn=(12) name" or "fn=(12)": callgrind's name compression.
NAMED = re.compile(r"(c?)(ob|fn|fl|fi|fe)=\((\d+)\)(?: (.*))?$")


def read_counts(path):
    """{(object id, address): times run}, {address key: (function id, its
    file's id)} and the names behind the ids, from a callgrind file of
    --dump-instr=yes."""
    counts = collections.Counter()
    function_at = {}
    names = {"ob": {}, "fn": {}, "fl": {}}
    obj = function = source = None
    address = 0
    cost_column = None
    after_call = False
    with open(path, errors="replace") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if line.startswith("positions:"):
                kinds = line.split()[1:]
                if "instr" not in kinds:
                    raise ValueError("%s counts by %s, not by address: record it with "
                                     "--dump-instr=yes" % (path, " ".join(kinds)))
                cost_column = len(kinds)
                continue
            named = NAMED.match(line)
            if named:
                called, kind, number, name = named.groups()
                if name:  # fl, fi and fe (and cfi, cfl) share one set of ids
                    names["fl" if kind in ("fi", "fe") else kind][number] = name
                if not called and kind == "ob":
                    obj = number
                elif not called and kind == "fn":
                    function = number
                elif not called and kind == "fl":
                    source = number
                continue
            if line.startswith("calls="):
                after_call = True  # the next line is the call's cost: not this function's
                continue
            if not line or line[0] not in "0123456789+-*":
                continue
            fields = line.split()
            address = next_address(address, fields[0])
            if after_call:
                after_call = False
                continue
            if cost_column is None:
                raise ValueError("%s: a cost line before its positions: line" % path)
            if len(fields) > cost_column:
                counts[(obj, address)] += int(fields[cost_column])
                function_at[(obj, address)] = (function, source)
    return counts, function_at, names


def next_address(previous, position):
    """A position in callgrind's subposition compression: absolute, +n or
    -n from the previous one, or * for the same."""
    if position == "*":
        return previous
    if position[0] in "+-":
        step = int(position[1:], 0)
        return previous + step if position[0] == "+" else previous - step
    return int(position, 0)


def footprint(counts, function_at, names, requests, by):
    """(lines on the path, Counter of lines by `by`)."""
    on_path = {}
    for key, times in counts.items():
        if times * 2 >= requests:
            on_path.setdefault((key[0], key[1] // LINE_BYTES), function_at[key])
    groups = collections.Counter()
    for (obj, _), (function, source) in on_path.items():
        if by == "object":
            groups[names["ob"].get(obj, "?")] += 1
        elif by == "file":
            groups[names["fl"].get(source, "?")] += 1
        else:
            groups[names["fn"].get(function, "?")] += 1
    return len(on_path), groups


def kib(lines):
    return lines * LINE_BYTES / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("callgrind_file")
    parser.add_argument("--requests", type=int, required=True,
                        help="the requests the file covers (h2load's or wrk's count)")
    parser.add_argument("--by", choices=["object", "file", "function"], default="object")
    parser.add_argument("--top", type=int, default=15, help="groups shown (default 15)")
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests is 1 or more")
    try:
        counts, function_at, names = read_counts(args.callgrind_file)
    except (OSError, ValueError) as error:
        print("code_footprint.py: %s" % error, file=sys.stderr)
        return 1
    total, groups = footprint(counts, function_at, names, args.requests, args.by)
    print("%d lines of %d bytes, %.1f KiB, run on at least half of %d requests"
          % (total, LINE_BYTES, kib(total), args.requests))
    for group, lines in groups.most_common(args.top):
        print("%8.1f KiB  %s" % (kib(lines), group[:150]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
