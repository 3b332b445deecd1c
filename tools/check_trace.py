#!/usr/bin/env python3
"""Check a Chrome trace-event JSON file against the rules of its format.

    tools/check_trace.py TRACE.json [--quiet]

The file is what TORNADO_TRACE=PATH makes a loop write (chapter 03's
tracer, final/'s), or any other producer's: https://ui.perfetto.dev and
chrome://tracing open it. The rules checked:

  - the file is JSON: an object whose "traceEvents" is a list of objects;
  - every event has "ph", "pid" and "tid", and a numeric "ts" (metadata,
    "M", needs no ts);
  - an "X" event (a complete bar) has a numeric "dur" >= 0;
  - within one thread (pid, tid), X events come in the order they began
    (ts never decreases from one X to the next in the file), and they nest:
    a bar that begins inside another ends inside it too;
  - every "b" (the start of an async span) has its "e", with the same cat,
    id and name, later in the file and not earlier in time; an "e" closes
    the latest open "b" of its kind, and none is left open at the end;
  - every "B" has its "E" on the same thread, and no "E" comes without one;
  - a counter ("C") has "args" whose values are all numbers.

Exits 0 and prints a summary when all hold; else 1, naming each event at
fault by its place in traceEvents ("event #12") and its text. Standard
library only, any python3. Other scripts import it: load() and problems().
"""
import argparse
import json
import sys

# Numbers of microseconds are written with 3 decimals: a child's end, added
# up from its own rounded ts and dur, may pass its parent's by a rounding.
ROUNDING_US = 0.002
KNOWN_PHASES = set("XBEbenisIMCPOND") | {"s", "t", "f"}
MAX_PROBLEMS = 20


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load(path):
    """The list of events of a trace file; raises ValueError saying why not."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON file: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("traceEvents"), list):
        raise ValueError(f"{path}: not an object with a list \"traceEvents\"")
    return document["traceEvents"]


def describe(index, event):
    text = json.dumps(event, separators=(",", ":"))
    return f"event #{index} {text[:160]}{'...' if len(text) > 160 else ''}"


def field_problems(event):
    """What one event lacks, on its own (an empty list if nothing)."""
    if not isinstance(event, dict):
        return ["is not an object"]
    found = []
    phase = event.get("ph")
    if not isinstance(phase, str) or phase not in KNOWN_PHASES:
        found.append(f"has no known \"ph\" (got {phase!r})")
    for key in ("pid", "tid"):
        if key not in event:
            found.append(f"has no \"{key}\"")
    if phase != "M" and not is_number(event.get("ts")):
        found.append("has no numeric \"ts\"")
    if phase == "X" and not (is_number(event.get("dur")) and event["dur"] >= 0):
        found.append(f"is an X event without a \"dur\" >= 0 (got {event.get('dur')!r})")
    if phase == "C":
        args = event.get("args")
        if not isinstance(args, dict) or not args or not all(is_number(v) for v in args.values()):
            found.append(f"is a counter whose \"args\" are not all numbers (got {args!r})")
    return found


def problems(events):
    """Every rule broken, as messages naming the event; [] for a good trace."""
    found = []
    open_bars = {}      # (pid, tid) -> stack of (end, index) of X bars around the last one
    last_start = {}     # (pid, tid) -> ts of the last X event
    open_async = {}     # (pid, cat, id, name) -> stack of (index, ts) of b events
    open_durations = {}  # (pid, tid) -> stack of (index, name) of B events
    for index, event in enumerate(events):
        own = field_problems(event)
        found += [f"{describe(index, event)} {problem}" for problem in own]
        if own:
            continue
        phase, thread = event["ph"], (event["pid"], event["tid"])
        if phase == "X":
            start, end = event["ts"], event["ts"] + event["dur"]
            if start < last_start.get(thread, start):
                found.append(f"{describe(index, event)} begins before the X event before it on "
                             f"its thread (ts {last_start[thread]}): bars must come in the order "
                             "they began")
            last_start[thread] = start
            stack = open_bars.setdefault(thread, [])
            while stack and stack[-1][0] <= start:
                stack.pop()  # bars that ended before this one began
            if stack and end > stack[-1][0] + ROUNDING_US:
                found.append(f"{describe(index, event)} begins inside {describe(*stack[-1][1])} "
                             "but ends after it: bars on one thread must nest")
            stack.append((end, (index, event)))
        elif phase in "be":
            key = (event["pid"], event.get("cat"), event.get("id"), event.get("name"))
            if phase == "b":
                open_async.setdefault(key, []).append((index, event))
            elif not open_async.get(key):
                found.append(f"{describe(index, event)} ends an async span that no earlier "
                             "\"b\" with the same cat, id and name began")
            else:
                begin_index, begin = open_async[key].pop()
                if event["ts"] < begin["ts"]:
                    found.append(f"{describe(index, event)} ends before its beginning, "
                                 f"{describe(begin_index, begin)}")
        elif phase == "B":
            open_durations.setdefault(thread, []).append((index, event))
        elif phase == "E":
            if not open_durations.get(thread):
                found.append(f"{describe(index, event)} ends a B event its thread never began")
            else:
                open_durations[thread].pop()
    for spans in list(open_async.values()) + list(open_durations.values()):
        found += [f"{describe(index, event)} is never ended" for index, event in spans]
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace", help="a trace-event JSON file")
    parser.add_argument("--quiet", action="store_true", help="print nothing when it passes")
    args = parser.parse_args()
    try:
        events = load(args.trace)
    except ValueError as error:
        print(f"check_trace: {error}", file=sys.stderr)
        return 1
    found = problems(events)
    if found:
        for problem in found[:MAX_PROBLEMS]:
            print(f"check_trace: {args.trace}: {problem}", file=sys.stderr)
        if len(found) > MAX_PROBLEMS:
            print(f"check_trace: ... and {len(found) - MAX_PROBLEMS} more", file=sys.stderr)
        return 1
    if not args.quiet:
        phases = {}
        for event in events:
            phases[event["ph"]] = phases.get(event["ph"], 0) + 1
        counts = ", ".join(f"{count} {phase}" for phase, count in sorted(phases.items()))
        print(f"check_trace: {args.trace}: {len(events)} events ({counts}): every rule holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
