#!/usr/bin/python3
"""Draws build/bench/h2.csv (written by hol_bench.py) as h2.png.

    /usr/bin/python3 tests/bench/plot_h2.py build/bench/h2.csv build/bench

One panel per placement of the slow resource (first, in the middle): for
each client shape, when each resource arrived (ms from the client's first
request, the median over rounds) against its place in the request order.
One client per shape: curl where it ran, else nghttp (HTTP/2) or h2load.
The slow resource is a star. On one HTTP/1.1 connection everything behind
it waits: a staircase that starts at the slow one's time; on six
connections one of them is stuck with it; over HTTP/2 the fast ones
arrive at once and only the slow one is late. Needs matplotlib, which
Debian's /usr/bin/python3 has (python3-matplotlib, the bench group);
without it, says so and draws nothing.
"""
import csv
import os
import statistics
import sys

try:
    import matplotlib
except ImportError:
    matplotlib = None

# (shape, legend, clients in order of preference, colour)
SHAPES = [
    ("h1x1", "HTTP/1.1, 1 connection, one request at a time", ("curl", "h2load"), "tab:red"),
    ("h1x6", "HTTP/1.1, 6 connections (as browsers)", ("curl",), "tab:orange"),
    ("h2", "HTTP/2, 1 connection, all streams at once", ("curl", "nghttp", "h2load"),
     "tab:blue"),
]
PLACEMENT_TITLE = {"first": "the slow resource requested first",
                   "middle": "the slow resource in the middle"}


def main(argv):
    if len(argv) != 2:
        print("usage: plot_h2.py H2_CSV OUT_DIR", file=sys.stderr)
        return 2
    if matplotlib is None:
        print("plot_h2.py: no matplotlib for %s (Debian: python3-matplotlib), no plot"
              % sys.executable)
        return 0
    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    csv_path, out_dir = argv
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        print("plot_h2.py: no measured row in %s, no plot" % csv_path)
        return 0
    placements = [p for p in ("first", "middle") if any(r["placement"] == p for r in rows)]
    rounds = len({r["round"] for r in rows})
    fast = [r for r in rows if r["kind"] == "fast"]
    slow = [r for r in rows if r["kind"] == "slow"]
    fast_path = fast[0]["path"] if fast else "?"
    fast_what = ("%s ms each" % fast_path.split("ms=")[1].split("&")[0]
                 if "/slow?ms=" in fast_path else "a picture each")
    slow_ms = slow[0]["path"].split("ms=")[1].split("&")[0] if slow else "?"
    one_run = [(r["placement"], r["round"], r["shape"], r["client"]) for r in rows[:1]]
    fast_count = sum(1 for r in fast
                     if (r["placement"], r["round"], r["shape"], r["client"]) in one_run)

    figure, axes = plt.subplots(1, len(placements), figsize=(7 * len(placements), 6.6),
                                sharey=True, squeeze=False)
    for axis, placement in zip(axes[0], placements):
        # The shapes' stars side by side where they would cover each other.
        spread = max(0.2, max(int(r["index"]) for r in rows) / 60.0)
        for offset, (shape, legend, clients, colour) in zip((-spread, 0.0, spread), SHAPES):
            client = next((c for c in clients if any(
                r["placement"] == placement and r["shape"] == shape and r["client"] == c
                for r in rows)), None)
            if client is None:
                continue
            mine = [r for r in rows if r["placement"] == placement and r["shape"] == shape
                    and r["client"] == client]
            indexes = sorted({int(r["index"]) for r in mine})
            times = {i: statistics.median(float(r["completion_ms"]) for r in mine
                                          if int(r["index"]) == i) for i in indexes}
            kinds = {int(r["index"]): r["kind"] for r in mine}
            connections = mine[0]["connections"]
            ys = [times[i] for i in indexes]
            label = "%s (%s; %s connection%s): all in %.0f ms" % (
                legend, client, connections, "" if connections == "1" else "s", max(ys))
            axis.plot(indexes, ys, "o-", color=colour, markersize=3.5, linewidth=1.3,
                      label=label)
            for i in indexes:
                if kinds[i] == "slow":
                    axis.plot(i + offset, times[i], "*", color=colour, markersize=16,
                              markeredgecolor="black", zorder=5)
        slow_index = next((int(r["index"]) for r in slow if r["placement"] == placement), None)
        if slow_index is not None:
            axis.axvline(slow_index, color="grey", linestyle=":", linewidth=1)
            axis.annotate("the slow one (%s ms)" % slow_ms, xy=(slow_index, 1),
                          xycoords=("data", "axes fraction"), xytext=(4, -14),
                          textcoords="offset points", fontsize=9, color="dimgrey")
        axis.set_ylim(bottom=0)
        axis.set_xlabel("resource, in the order requested")
        axis.set_title(PLACEMENT_TITLE.get(placement, placement), fontsize=12)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=9,
                    frameon=False)
    axes[0][0].set_ylabel("arrived after (ms from the first request)")
    figure.suptitle("Head-of-line blocking: %d fast resources (%s) and one of %s ms, "
                    "ch10_h2_server on loopback\n\u2605 the slow resource; median of %d round%s"
                    % (fast_count, fast_what, slow_ms, rounds, "" if rounds == 1 else "s"),
                    fontsize=12)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, "h2.png")
    figure.savefig(png, dpi=100)
    print("Wrote %s" % png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
