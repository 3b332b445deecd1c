"""Read a loop's trace (TORNADO_TRACE) for the tests that check what it shows.

    trace = LoopTrace("/tmp/t.json")        # check_trace.py's rules must hold
    for bar in trace.bars_named("handler"): trace.turn_of(bar), trace.poll_before(bar)

Times are seconds on CLOCK_MONOTONIC: chapter 03's tracer writes steady_clock
in microseconds, and Python's time.monotonic() reads the same clock, so a
test compares "when the loop ran this handler" with "when I sent my bytes"
directly. Also the helpers the trace tests share: running the plotter when
/usr/bin/python3 has matplotlib. Standard library only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools")
sys.path.insert(0, TOOLS)
from check_trace import load, problems  # noqa: E402

# The plotter needs Debian's matplotlib, which only Debian's interpreter sees.
PLOTTING_PYTHON = "/usr/bin/python3"
# The lessons' pictures are drawn as wide as a slide shows them (w:1000), so
# that their text is read at the size it was drawn.
PICTURE_WIDTH = "1000"


class Bar:
    """One X event: name, start and end (seconds), tid, args."""

    def __init__(self, event):
        self.name = event["name"]
        self.start = event["ts"] / 1e6
        self.end = (event["ts"] + event["dur"]) / 1e6
        self.tid = event["tid"]
        self.args = event.get("args", {})

    @property
    def duration(self):
        return self.end - self.start

    def contains(self, other):
        return self.start <= other.start and other.end <= self.end + 1e-8

    def __repr__(self):
        args = " ".join(f"{key} {value}" for key, value in self.args.items())
        return (f"<{self.name}{' ' + args if args else ''}: from {self.start:.6f} s, "
                f"{self.duration * 1000:.3f} ms>")


class LoopTrace:
    def __init__(self, path):
        self.path = path
        self.events = load(path)
        self.problems = problems(self.events)
        if self.problems:
            raise AssertionError(f"{path} breaks the trace format's rules:\n  " +
                                 "\n  ".join(self.problems[:10]))
        bars = [Bar(e) for e in self.events if e.get("ph") == "X"]
        turn_tids = {bar.tid for bar in bars if bar.name == "turn"}
        if len(turn_tids) != 1:
            raise AssertionError(f"{path}: expected the turns of one loop thread, "
                                 f"found {len(turn_tids)} threads with turns")
        self.loop_tid = turn_tids.pop()
        self.bars = sorted((b for b in bars if b.tid == self.loop_tid),
                           key=lambda b: (b.start, -b.duration))

    def bars_named(self, name, start=None, end=None):
        """The loop's bars called `name` that begin between start and end (seconds)."""
        return [bar for bar in self.bars if bar.name == name
                and (start is None or bar.start >= start) and (end is None or bar.start <= end)]

    def work(self):
        """The bars of code the loop ran: every bar but the turns and the waits."""
        return [bar for bar in self.bars if bar.name not in ("turn", "poll")]

    def turn_of(self, bar):
        turns = [turn for turn in self.bars_named("turn") if turn.contains(bar)]
        return turns[0] if turns else None

    def poll_before(self, bar):
        """The wait that came last before `bar` in its turn (None if none did)."""
        turn = self.turn_of(bar)
        polls = [poll for poll in self.bars_named("poll")
                 if turn is not None and turn.contains(poll) and poll.end <= bar.start]
        return polls[-1] if polls else None

    def counter(self, name):
        """[(time in seconds, value)] of a counter, in the order recorded."""
        return [(e["ts"] / 1e6, e["args"]["value"]) for e in self.events
                if e.get("ph") == "C" and e.get("name") == name]

    def ms_from_start(self, seconds):
        """A time as trace_plot.py's axis shows it: ms from the first timed event."""
        origin = min(e["ts"] for e in self.events if e.get("ph") != "M")
        return (seconds * 1e6 - origin) / 1000


def with_client_spans(trace_path, spans, out_path):
    """Writes a copy of the trace with the test's own doings added, for the
    pictures: each (id, name, start, end) of `spans` (seconds, time.monotonic())
    becomes an async span of category "client", a "b" and its "e". The clocks
    are the same, so the picture shows what the clients did under what the
    loop did. Spans of one id nest: a request inside its connection."""
    pid = os.getpid()
    events = list(load(trace_path))
    events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": pid,
                   "args": {"name": "the test's clients"}})
    for span_id, name, start, end in spans:
        for phase, seconds in (("b", start), ("e", end)):
            events.append({"name": name, "cat": "client", "ph": phase, "id": span_id,
                           "ts": round(seconds * 1e6, 3), "pid": pid, "tid": pid})
    # The format wants a span's "b" before its "e" and an outer one's "b"
    # before its inner one's: in time order, the longer first.
    events.sort(key=lambda e: (e.get("ph") != "M", e.get("ts", 0), e.get("ph") != "b"))
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)


def framework_like_trace():
    """A small trace with every kind of event final/'s tracer writes (docs of
    final/include/tornado/trace.h): M names, a loop thread's nested X bars,
    an executor thread's job, C counters, b/e async spans with cat and id (an
    HTTP request; a coroutine with "running" stretches nested in it), and
    i instants. For the tests of tools/check_trace.py and trace_plot.py."""
    def event(phase, name, ts, tid=1, **fields):
        return {"name": name, "ph": phase, "ts": ts, "pid": 1, "tid": tid, **fields}

    return {"traceEvents": [
        {"name": "process_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "demo_app"}},
        {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "IOLoop"}},
        {"name": "thread_name", "ph": "M", "pid": 1, "tid": 2, "args": {"name": "executor thread"}},
        event("X", "turn", 1000.0, cat="loop", dur=900.0),
        event("C", "queued callbacks", 1000.0, cat="loop", args={"value": 2}),
        event("X", "callback", 1010.0, cat="loop", dur=40.0),
        event("X", "poll", 1060.0, cat="loop", dur=500.0, args={"timeout_ms": -1, "ready": 1}),
        event("X", "handler iostream.cpp:310", 1570.0, cat="loop", dur=300.0, args={"fd": 7}),
        event("b", "HTTP request", 1580.0, cat="http", id="0x10",
              args={"method": "GET", "path": "/sleep"}),
        event("b", "SleepHandler::get", 1600.0, cat="task", id="0x20"),
        event("b", "running", 1600.0, cat="task", id="0x20"),
        event("e", "running", 1650.0, cat="task", id="0x20"),
        event("i", "websocket message received", 1700.0, cat="websocket", s="t",
              args={"bytes": 5, "binary": False}),
        event("X", "run_in_executor app.cpp:40", 1800.0, tid=2, cat="executor", dur=700.0),
        event("X", "turn", 1950.0, cat="loop", dur=800.0),
        event("C", "queued callbacks", 1950.0, cat="loop", args={"value": 0}),
        event("X", "poll", 1955.0, cat="loop", dur=600.0, args={"timeout_ms": 100, "ready": 0}),
        event("X", "timeout", 2560.0, cat="loop", dur=20.0),
        event("b", "running", 2561.0, cat="task", id="0x20"),
        event("e", "running", 2570.0, cat="task", id="0x20"),
        event("e", "SleepHandler::get", 2570.0, cat="task", id="0x20"),
        event("e", "HTTP request", 2600.0, cat="http", id="0x10", args={"status": 200}),
    ], "displayTimeUnit": "ms", "otherData": {"dropped_events": 0}}


def can_plot():
    """True when /usr/bin/python3 has matplotlib (tools/install-deps.sh bench)."""
    try:
        return subprocess.run([PLOTTING_PYTHON, "-c", "import matplotlib"],
                              capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def plot(trace_path, png_path, *options):
    """Runs tools/trace_plot.py (--width PICTURE_WIDTH unless `options` say
    otherwise); raises with its output if it fails."""
    command = [PLOTTING_PYTHON, os.path.join(TOOLS, "trace_plot.py"), trace_path,
               "--out", png_path, "--width", PICTURE_WIDTH, *options]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


class Checks:
    """Prints each check as it passes; the first that fails ends the script."""

    def __init__(self, program):
        self.program = program

    def check(self, condition, what, details=""):
        if not condition:
            print(f"{self.program}: FAILED: {what}{': ' + details if details else ''}",
                  file=sys.stderr)
            sys.exit(1)
        print(f"{self.program}: ok: {what}")


def run_trace_test(description, program, run_scenario, check_lesson, draw, timing_missed=None):
    """The command line and the steps both chapters' trace tests share.

    --server PATH runs `program` traced through run_scenario(server,
    trace_path), which returns what the clients saw (with its "exit
    status"); the trace must be written and keep the format's rules, then
    check_lesson(trace, seen, checks) checks what the lesson says. With
    --pictures DIR, draw(trace, seen, DIR, scratch) draws it. --trace PATH
    keeps the file (default: a temporary one).

    timing_missed(trace, seen), when given, says why a run did not set up
    what the lesson's checks need (a request meant to arrive while the
    loop was blocked came before the block began, on a busy machine), or
    None: such a run is made again, up to three times in all, and the
    last run is checked whatever it says."""
    parser = argparse.ArgumentParser(description=description.split("\n")[0])
    parser.add_argument("--server", required=True, help=f"path of {program}")
    parser.add_argument("--trace", help="where the trace goes (kept); default a temporary file")
    parser.add_argument("--pictures", help="draw the trace into this folder (needs matplotlib)")
    args = parser.parse_args()
    name = program.split("_")[0]  # ch03_server -> ch03
    checks = Checks(f"{name}_trace_test")
    with tempfile.TemporaryDirectory() as scratch:
        trace_path = args.trace or os.path.join(scratch, f"{name}_trace.json")
        for attempt in range(1, 4):
            if os.path.exists(trace_path):
                os.remove(trace_path)  # the file checked must be this run's
            seen = run_scenario(args.server, trace_path)
            missed = None
            if timing_missed and attempt < 3 and seen["exit status"] == 0 and \
                    os.path.exists(trace_path):
                missed = timing_missed(LoopTrace(trace_path), seen)
            if not missed:
                break
            print(f"{name}_trace_test: run {attempt} again: {missed}", flush=True)
        checks.check(seen["exit status"] == 0, f"SIGTERM stopped {program} cleanly",
                     f"exit status {seen['exit status']}")
        checks.check(os.path.exists(trace_path), f"the loop wrote {trace_path} as it stopped")
        trace = LoopTrace(trace_path)
        checks.check(True, f"the trace keeps the format's rules ({len(trace.events)} events)")
        check_lesson(trace, seen, checks)
        if args.pictures:
            checks.check(can_plot(), "/usr/bin/python3 has matplotlib, to draw the pictures")
            os.makedirs(args.pictures, exist_ok=True)
            draw(trace, seen, args.pictures, scratch)
    return 0
