#!/usr/bin/env python3
"""tools/trace_plot.py draws real traces, and final/'s kinds of events.

    trace_plot_test.py [TRACE.json ...]

Draws each TRACE given (a loop's trace from ch03.loop_trace.three_clients
or ch08.loop_trace.blocking_wrong), then a small trace with every kind of
event final/'s tracer writes (loop_trace.framework_like_trace: nested X
bars on two threads, b/e async spans, counters, instants), whole and
through a --from/--to window. Each PNG must be written and hold a picture.
A window that ends before it begins must be refused (exit 1).

The plotter needs Debian's matplotlib, which only /usr/bin/python3 sees:
without it this test is skipped (exit 77, CTest's SKIP_RETURN_CODE).
Standard library only.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loop_trace import PLOTTING_PYTHON, TOOLS, can_plot, framework_like_trace, plot  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALLEST_PICTURE = 5000  # bytes: a PNG of lanes, bars and text is well above this


def check_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(PNG_SIGNATURE) or len(data) < SMALLEST_PICTURE:
        sys.exit(f"trace_plot_test: {path} is not a picture ({len(data)} bytes)")
    print(f"trace_plot_test: ok: {os.path.basename(path)}, {len(data)} bytes")


def main():
    if not can_plot():
        print(f"trace_plot_test: skipped: {PLOTTING_PYTHON} has no matplotlib "
              "(tools/install-deps.sh bench installs it)")
        return 77
    with tempfile.TemporaryDirectory() as scratch:
        for number, trace in enumerate(sys.argv[1:]):
            png = os.path.join(scratch, f"given_{number}.png")
            plot(trace, png, "--title", os.path.basename(trace))
            check_png(png)

        framework_like = os.path.join(scratch, "framework_like.json")
        with open(framework_like, "w", encoding="utf-8") as f:
            json.dump(framework_like_trace(), f)
        plot(framework_like, os.path.join(scratch, "whole.png"), "--width", "900")
        check_png(os.path.join(scratch, "whole.png"))
        plot(framework_like, os.path.join(scratch, "window.png"), "--from", "0.5", "--to", "1.2",
             "--title", "a window of it")
        check_png(os.path.join(scratch, "window.png"))

        refused = subprocess.run([PLOTTING_PYTHON, os.path.join(TOOLS, "trace_plot.py"),
                                  framework_like, "--out", os.path.join(scratch, "no.png"),
                                  "--from", "2", "--to", "1"], capture_output=True, text=True)
        if refused.returncode != 1 or os.path.exists(os.path.join(scratch, "no.png")):
            sys.exit(f"trace_plot_test: --from 2 --to 1 was not refused: {refused.stderr}")
        print("trace_plot_test: ok: a window that ends before it begins is refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
