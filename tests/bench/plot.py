#!/usr/bin/python3
"""Draws build/bench/results.csv (written by run_bench.py) as bench.png and bench.svg.

    /usr/bin/python3 tests/bench/plot.py build/bench/results.csv build/bench

Five panels: requests per second against connections (log x, one line per
server), p99 latency against connections, the server's peak memory against
connections, the slow-client scenario as bars next to the same server
with ten connections and no slow clients, and across the bottom the
slow-backend scenario (chapter 08): req/s when every request waits 100 ms,
in a coroutine, on a thread pool, or blocking the loop. When the CSV has
the framework scenario, a last row of three panels sets final/'s hello
servers beside nginx and Python Tornado: req/s, server CPU time per
request, and memory per idle keep-alive connection. Needs matplotlib, which Debian's
/usr/bin/python3 has (python3-matplotlib); the python3 on PATH may not.
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

OK = ("ok", "server died")


def number(text):
    return float(text) if text not in ("", None) else None


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["connections"] = int(row["connections"])
        for key in ("rps", "p50_ms", "p99_ms", "hwm_kb", "requests", "err_timeout",
                    "err_connect", "err_read", "err_write", "held_peak"):
            row[key] = number(row.get(key))
    return rows


def servers_in_order(rows):
    names = []
    for row in rows:
        if row["server"] not in names:
            names.append(row["server"])
    return names


def short_count(value, _position=None):
    if value >= 1000:
        return "%gk" % (value / 1000)
    return "%g" % value


def had_errors(row):
    return any((row[key] or 0) > 0 for key in ("err_timeout", "err_connect", "err_read", "err_write"))


def partly_served(row):
    """The server held fewer connections than wrk opened: the rest just waited."""
    return row["held_peak"] is not None and row["held_peak"] < row["connections"]


def draw_marker(axis, x, y, colour, row):
    if partly_served(row):
        axis.plot(x, y, "X", color=colour, markersize=9, markeredgecolor="black", markeredgewidth=0.6)
    else:
        axis.plot(x, y, "o", color=colour, markersize=7,
                  markerfacecolor="white" if had_errors(row) else colour)


def line_panel(axis, rows, names, colours, value, ylabel, title, log_y=False):
    levels = sorted({r["connections"] for r in rows})
    for name in names:
        mine = sorted((r for r in rows if r["server"] == name), key=lambda r: r["connections"])
        points = [(r["connections"], value(r), r) for r in mine
                  if r["status"] in OK and value(r) is not None and (not log_y or value(r) > 0)]
        skipped = [r for r in mine if r["status"] not in OK]
        label = name
        if skipped:
            label += " (%s: %s)" % (", ".join(short_count(r["connections"]) for r in skipped),
                                    skipped[0]["status"])
        if not points:
            axis.plot([], [], color=colours[name], label=label)
            continue
        xs, ys, runs = zip(*points)
        axis.plot(xs, ys, "-", color=colours[name], label=label, linewidth=2)
        for x, y, run in zip(xs, ys, runs):
            draw_marker(axis, x, y, colours[name], run)
    axis.set_xscale("log")
    if log_y:
        axis.set_yscale("log")
        axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: "%g" % v))
        axis.yaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    else:
        axis.set_ylim(bottom=0)
    axis.set_xticks(levels)
    axis.xaxis.set_major_formatter(FuncFormatter(short_count))
    axis.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    axis.set_xlabel("concurrent connections (log scale)")
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=12)
    axis.grid(True, which="major", alpha=0.3)


def slow_panel(axis, load_rows, slow_rows, names, colours):
    alone = {r["server"]: r for r in load_rows if r["connections"] == 10 and r["status"] in OK}
    slow = {r["server"]: r for r in slow_rows}
    shown = [n for n in names if n in slow]
    if not shown:
        axis.text(0.5, 0.5, "no slow-client runs", ha="center", va="center", transform=axis.transAxes)
        axis.set_axis_off()
        return
    width = 0.38
    tallest = max([(r["rps"] or 0) for r in list(alone.values()) + list(slow.values())] + [1])
    for i, name in enumerate(shown):
        with_slow = slow[name]["rps"] or 0
        if name in alone:
            axis.bar(i - width / 2, alone[name]["rps"] or 0, width, color=colours[name], alpha=0.35,
                     edgecolor=colours[name])
        axis.bar(i + width / 2, with_slow, width, color=colours[name], edgecolor="black")
        text = "starved" if with_slow == 0 else short_count(round(with_slow, -2))
        axis.text(i + width / 2, with_slow + tallest * 0.02, text, ha="center", va="bottom",
                  fontsize=9, fontweight="bold" if with_slow == 0 else "normal")
    slow_count = max(int(slow[n]["slow_clients"] or 0) for n in shown)
    axis.set_xticks(range(len(shown)))
    axis.set_xticklabels(shown)
    axis.set_ylim(0, tallest * 1.15)
    axis.yaxis.set_major_formatter(FuncFormatter(short_count))
    axis.set_ylabel("requests / second (10 wrk connections)")
    axis.set_title("Slow clients: pale = 10 connections alone,\n"
                   "solid = the same beside %d slow clients" % slow_count, fontsize=12)
    axis.grid(True, axis="y", alpha=0.3)


def backend_panel(axis, backend_rows):
    """Slow backend: one bar per way of waiting, log x, with its req/s."""
    rows = [r for r in backend_rows if r["status"] in OK]
    if not rows:
        axis.text(0.5, 0.5, "no slow-backend runs", ha="center", va="center",
                  transform=axis.transAxes)
        axis.set_axis_off()
        return
    blocking = next((r["rps"] for r in rows if r["server"] == "blocking" and r["rps"]), None)
    colours = {"coroutine": "tab:green", "executor": "tab:orange", "blocking": "tab:red"}
    names = [r["server"] for r in rows]
    values = [max(r["rps"] or 0, 0.1) for r in rows]  # log scale: no zero
    axis.barh(range(len(rows)), values, color=[colours.get(n, "tab:gray") for n in names])
    for i, row in enumerate(rows):
        text = "%s req/s" % short_count(round(row["rps"] or 0))
        if blocking and row["server"] != "blocking":
            text += "  (%.0fx blocking)" % ((row["rps"] or 0) / blocking)
        axis.text(values[i] * 1.1, i, text, va="center", fontsize=10)
    axis.set_yticks(range(len(rows)))
    axis.set_yticklabels(names)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlim(left=1, right=max(values) * 8)
    axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: short_count(v)))
    axis.set_xlabel("requests / second (log scale)")
    connections = rows[0]["connections"]
    axis.set_title("Slow backend: every request waits 100 ms, %d connections (ch08_app): "
                   "coroutine / thread pool / blocking the loop" % connections, fontsize=12)
    axis.grid(True, axis="x", which="major", alpha=0.3)


FRAMEWORK_COLOURS = {"final_hello": "tab:blue", "final_http_hello": "tab:cyan",
                     "nginx": "tab:green", "tornado": "tab:orange"}


def framework_panels(axes, framework_rows, idle_rows):
    """Grouped bars per connection level for req/s and CPU per request,
    one bar per server for bytes per idle connection."""
    rows = [r for r in framework_rows if r["status"] in OK and r["rps"]]
    names = servers_in_order(rows)
    levels = sorted({r["connections"] for r in rows})
    by_key = {(r["server"], r["connections"]): r for r in rows}
    width = 0.8 / max(1, len(names))
    panels = ((axes[0], lambda r: r["rps"], "requests / second",
               "Framework: req/s (higher is better)", False),
              (axes[1], lambda r: number(r.get("cpu_us_per_request")),
               "µs per request (log scale)",
               "Framework: server CPU time per request\n(lower is better)", True))
    for axis, value, ylabel, title, log_y in panels:
        tallest = max([value(r) or 0 for r in rows] + [1])
        for i, name in enumerate(names):
            for j, level in enumerate(levels):
                row = by_key.get((name, level))
                height = value(row) if row else None
                if not height:
                    continue
                x = j + (i - (len(names) - 1) / 2) * width
                axis.bar(x, height, width, color=FRAMEWORK_COLOURS.get(name, "tab:gray"),
                         label=name if j == 0 else None)
                text = "%.1f" % height if log_y else short_count(round(height, -2))
                axis.text(x, height, text, ha="center", va="bottom", fontsize=8)
        axis.set_xticks(range(len(levels)))
        axis.set_xticklabels(["%s conns" % short_count(level) for level in levels])
        axis.set_ylabel(ylabel)
        axis.set_title(title, fontsize=12)
        if log_y:
            axis.set_yscale("log")
            axis.set_ylim(top=tallest * 3)  # room for the labels
            axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: "%g" % v))
        else:
            axis.set_ylim(0, tallest * 1.3)  # room for the legend
            axis.yaxis.set_major_formatter(FuncFormatter(short_count))
        axis.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper center", ncol=2, frameon=False)

    idle = [r for r in idle_rows if r["status"] in OK and r.get("idle_bytes_per_connection")]
    axis = axes[2]
    if not idle:
        axis.text(0.5, 0.5, "no idle-memory runs", ha="center", va="center",
                  transform=axis.transAxes)
        axis.set_axis_off()
        return
    values = [max(number(r["idle_bytes_per_connection"]), 1) for r in idle]
    axis.bar(range(len(idle)), values,
             color=[FRAMEWORK_COLOURS.get(r["server"], "tab:gray") for r in idle])
    for i, value in enumerate(values):
        axis.text(i, value, "{:,.0f} B".format(value), ha="center", va="bottom", fontsize=9)
    axis.axhline(1024, color="black", linestyle="--", linewidth=1)
    axis.text(len(idle) - 0.5, 1024, "goal: 1 KB", ha="right", va="bottom", fontsize=9)
    axis.set_xticks(range(len(idle)))
    axis.set_xticklabels([r["server"] for r in idle], fontsize=9)
    axis.set_yscale("log")
    axis.set_ylim(top=max(values + [1024]) * 3)
    axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: "%g" % v))
    axis.set_ylabel("bytes of RSS each (log scale)")
    axis.set_title("Framework: memory per idle connection\n(%s open)"
                   % "{:,}".format(idle[0]["connections"]), fontsize=12)
    axis.grid(True, axis="y", alpha=0.3)


def main(argv):
    if len(argv) != 2:
        print("usage: plot.py results.csv OUT_DIR", file=sys.stderr)
        return 2
    csv_path, out_dir = argv
    rows = read_rows(csv_path)
    load_rows = [r for r in rows if r["scenario"] == "load"]
    slow_rows = [r for r in rows if r["scenario"] == "slow"]
    backend_rows = [r for r in rows if r["scenario"] == "backend"]
    framework_rows = [r for r in rows if r["scenario"] == "framework"]
    idle_rows = [r for r in rows if r["scenario"] == "idle"]
    names = servers_in_order(load_rows + slow_rows)
    palette = plt.get_cmap("tab10").colors
    colours = {name: palette[i % len(palette)] for i, name in enumerate(names)}

    # The framework's row joins only when the CSV has it.
    heights = (1, 1, 0.45) + ((0.8,) if framework_rows else ())
    figure = plt.figure(figsize=(13, 13 * sum(heights) / 2.45))
    grid = figure.add_gridspec(len(heights), 2, height_ratios=heights)
    axes = [[figure.add_subplot(grid[row, column]) for column in (0, 1)] for row in (0, 1)]
    backend_axis = figure.add_subplot(grid[2, :])
    if framework_rows:
        framework_grid = grid[3, :].subgridspec(1, 3, wspace=0.4)
        framework_panels([figure.add_subplot(framework_grid[0, i]) for i in range(3)],
                         framework_rows, idle_rows)
    if load_rows:
        line_panel(axes[0][0], load_rows, names, colours, lambda r: r["rps"],
                   "requests / second", "Throughput (higher is better)")
        axes[0][0].yaxis.set_major_formatter(FuncFormatter(short_count))
        line_panel(axes[0][1], load_rows, names, colours, lambda r: r["p99_ms"],
                   "p99 latency, ms (log scale)",
                   "p99 latency of completed requests (lower is better)", log_y=True)
        line_panel(axes[1][0], load_rows, names, colours,
                   lambda r: r["hwm_kb"] / 1024 if r["hwm_kb"] else None,
                   "server peak RSS, MB (log scale)", "Server memory (VmHWM)", log_y=True)
        handles, labels = axes[0][0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="upper center", ncol=min(4, len(labels)),
                      bbox_to_anchor=(0.5, 0.945), fontsize=10, frameon=False)
    else:
        for axis in (axes[0][0], axes[0][1], axes[1][0]):
            axis.text(0.5, 0.5, "no load runs", ha="center", va="center", transform=axis.transAxes)
            axis.set_axis_off()
    slow_panel(axes[1][1], load_rows, slow_rows, names, colours)
    backend_panel(backend_axis, backend_rows)

    duration = next((r["duration_s"] for r in rows if r.get("duration_s")), "")
    figure.suptitle("Blocking vs async servers under wrk (keep-alive GET /, one wrk thread, "
                    "about %s s per run)\n"
                    "\u25cf clean run    \u25cb wrk counted timeouts or socket errors    "
                    "\u2716 the server held only some connections (the rest waited unanswered)"
                    % (duration.split(".")[0] or "?"), fontsize=12)
    figure.tight_layout(rect=(0, 0, 1, 0.935))
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, "bench.png")
    svg = os.path.join(out_dir, "bench.svg")
    figure.savefig(png, dpi=100)
    figure.savefig(svg, metadata={"Date": None})
    print("Wrote %s and %s" % (png, svg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
