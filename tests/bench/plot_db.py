#!/usr/bin/python3
"""Draws build/bench/db.csv (written by db_bench.py) as db.png.

    /usr/bin/python3 tests/bench/plot_db.py build/bench/db.csv build/bench

Two panels, one line per server against the number of connections (log
scale): the pages answered per second, and the p99 latency (log scale).
A hollow marker: wrk counted errors at that level (refusals, timeouts,
socket errors). Needs matplotlib, which Debian's /usr/bin/python3 has
(python3-matplotlib, the bench group); without it, says so and draws
nothing.
"""
import csv
import os
import sys

try:
    import matplotlib
except ImportError:
    matplotlib = None


def number(text):
    return float(text) if text not in ("", None) else None


def main(argv):
    if len(argv) != 2:
        print("usage: plot_db.py DB_CSV OUT_DIR", file=sys.stderr)
        return 2
    if matplotlib is None:
        print("plot_db.py: no matplotlib for %s (Debian: python3-matplotlib), no plot"
              % sys.executable)
        return 0
    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    csv_path, out_dir = argv
    with open(csv_path, newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["status"] in ("ok", "server died")]
    if not rows:
        print("plot_db.py: no measured row in %s, no plot" % csv_path)
        return 0
    names = []
    for row in rows:
        label = "(%s) %s" % (row["letter"], row["server"])
        if label not in names:
            names.append(label)
    levels = sorted({int(row["connections"]) for row in rows})
    colours = plt.get_cmap("tab10").colors
    pool = next((row["pool"] for row in rows if row["pool"]), "?")

    figure, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    panels = ((axes[0], "rps", "pages / second (HTTP 200)", "Throughput (higher is better)", False),
              (axes[1], "p99_ms", "p99 latency, ms (log scale)", "p99 latency (lower is better)",
               True))
    for axis, key, ylabel, title, log_y in panels:
        for index, name in enumerate(names):
            mine = sorted((r for r in rows if "(%s) %s" % (r["letter"], r["server"]) == name),
                          key=lambda r: int(r["connections"]))
            points = [(int(r["connections"]), number(r[key]), int(r["errors"] or 0) > 0)
                      for r in mine if number(r[key]) is not None]
            if log_y:
                points = [p for p in points if p[1] > 0]
            colour = colours[index % len(colours)]
            if not points:
                axis.plot([], [], color=colour, label=name)
                continue
            xs, ys, errors = zip(*points)
            axis.plot(xs, ys, "-", color=colour, label=name, linewidth=2)
            for x, y, had_errors in points:
                axis.plot(x, y, "o", color=colour, markersize=7,
                          markerfacecolor="white" if had_errors else colour)
        axis.set_xscale("log")
        if log_y:
            axis.set_yscale("log")
            axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: "%g" % v))
        else:
            axis.set_ylim(bottom=0)
        axis.set_xticks(levels)
        axis.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _p: "%gk" % (v / 1000) if v >= 1000 else "%g" % v))
        axis.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
        axis.set_xlabel("concurrent connections (log scale)")
        axis.set_ylabel(ylabel)
        axis.set_title(title, fontsize=12)
        axis.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 0.89),
                  fontsize=10, frameon=False)
    figure.suptitle("GET /page: an indexed SELECT, then pg_sleep(50 ms), from PostgreSQL "
                    "(N = %s)\n\u25cf clean    \u25cb wrk counted errors" % pool, fontsize=12)
    figure.tight_layout(rect=(0, 0, 1, 0.84))
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, "db.png")
    figure.savefig(png, dpi=100)
    print("Wrote %s" % png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
