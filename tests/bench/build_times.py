#!/usr/bin/env python3
"""Where the course's build spends its time, read from Ninja's log.

    python3 tests/bench/build_times.py build              # by target, then the slowest steps
    python3 tests/bench/build_times.py build --group area # by part of the course
    python3 tests/bench/build_times.py build --top 40

Ninja writes one line per step it ran into BUILD/.ninja_log: when the step
started and ended (milliseconds since that ninja run began) and what it
made. A step rebuilt later appears again; the last line wins. The seconds
here are each step's own wall time, so on two cores their sum is about
twice the build's wall time: they show where the work is, and the build's
own wall time is printed beside them.

Run it after a build from nothing (make clean, then make build or make
test) to see the whole build; after an incremental build the log still
holds the older steps too.
"""
import argparse
import collections
import os
import re
import signal
import sys

# tests/final/CMakeFiles/final_web_tests.dir/Unity/unity_0_cxx.cxx.o ->
# (tests/final, final_web_tests)
OBJECT = re.compile(r"^(?:(.*)/)?CMakeFiles/([^/]+)\.dir/")


def read_log(path):
    """{output: (start_ms, end_ms)} for the steps of the log, last run wins."""
    steps = {}
    with open(path, encoding="utf-8") as log:
        for line in log:
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                continue
            start, end, _, output = fields[:4]
            steps[output] = (int(start), int(end))
    return steps


def target_of(output):
    """The CMake target a step belongs to: an object's target, a program's
    or library's file name, or "other" (custom commands, test discovery)."""
    match = OBJECT.match(output)
    if match:
        return match.group(2)
    name = os.path.basename(output)
    if output.startswith("bin/"):
        return name
    if name.startswith("lib") and name.endswith(".a"):
        return name[3:-2]
    return "other"


def area_of_object(output):
    """The part of the course an object file belongs to: final/, its tests,
    a chapter's code, the chapters' tests, the exercises, the benchmarks."""
    target = target_of(output)
    if "exercise" in target:
        return "exercises (as committed)"
    if target.startswith("final_") and target.endswith("_tests"):
        return "tests/final: the test programs"
    if output.startswith("final/CMakeFiles/"):
        return "final/: the library"
    if output.startswith("final/"):
        return "final/: examples, Redis add-on"
    if output.startswith("tests/final/"):
        return "tests/final: tools, fuzz replays"
    if re.match(r"tests/0\d", output):
        return "tests/NN: the chapters' tests"
    if output.startswith("chapters/"):
        return "chapters/: code and demos"
    if output.startswith("tests/bench/"):
        return "tests/bench: benchmark programs"
    return "other"


def areas(steps):
    """{output: area}: objects by their folder; a link or an archive by the
    area of its target's objects (bin/demo_app goes with demo_app's)."""
    by_target = {}
    for output in steps:
        if OBJECT.match(output):
            by_target.setdefault(target_of(output), area_of_object(output))
    return {output: (area_of_object(output) if OBJECT.match(output)
                     else by_target.get(target_of(output), "other"))
            for output in steps}


def seconds(ms):
    return ms / 1000.0


def main():
    # Piped into head: stop quietly when the reader has had enough.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build_dir", help="the Ninja build folder (build/)")
    parser.add_argument("--group", choices=["target", "area"], default="target")
    parser.add_argument("--top", type=int, default=15, help="how many groups and steps to list")
    args = parser.parse_args()

    log = os.path.join(args.build_dir, ".ninja_log")
    if not os.path.isfile(log):
        sys.exit(f"build_times: no {log}: was {args.build_dir} built by Ninja?")
    steps = read_log(log)
    if not steps:
        sys.exit(f"build_times: {log} holds no steps")

    area = areas(steps)
    group_of = target_of if args.group == "target" else area.get
    totals = collections.Counter()
    counts = collections.Counter()
    for output, (start, end) in steps.items():
        totals[group_of(output)] += end - start
        counts[group_of(output)] += 1
    all_steps = sum(totals.values())
    wall = max(end for _, end in steps.values()) - min(start for start, _ in steps.values())

    print(f"{len(steps)} steps, {seconds(all_steps):.0f} s of steps, spanning "
          f"{seconds(wall):.0f} s (the build's wall time, when the log holds one build "
          f"from nothing)\n")
    print(f"| {args.group} | steps | seconds | share |")
    print("|---|---:|---:|---:|")
    for group, ms in totals.most_common(args.top):
        print(f"| {group} | {counts[group]} | {seconds(ms):.1f} | {100.0 * ms / all_steps:.0f}% |")
    rest = all_steps - sum(ms for _, ms in totals.most_common(args.top))
    if rest > 0:
        print(f"| the rest | | {seconds(rest):.1f} | {100.0 * rest / all_steps:.0f}% |")

    print("\n| slowest steps | seconds |")
    print("|---|---:|")
    slowest = sorted(steps.items(), key=lambda item: item[1][1] - item[1][0], reverse=True)[:args.top]
    for output, (start, end) in slowest:
        print(f"| `{output}` | {seconds(end - start):.1f} |")


if __name__ == "__main__":
    main()
