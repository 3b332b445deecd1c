#!/usr/bin/env python3
"""Draw a Chrome trace-event JSON file as a PNG timeline.

    /usr/bin/python3 tools/trace_plot.py TRACE.json --out loop.png
            [--from MS] [--to MS] [--title TEXT] [--width PIXELS]

TRACE.json is what TORNADO_TRACE=PATH makes a loop write (chapter 03's
tracer, or final/'s), or any other producer's trace-event file. Drawn, from
top to bottom, on one time axis in milliseconds from the first event:

  - one lane per thread, named from its "M" thread_name event: its "X"
    bars, a bar that began inside another one row below it (a turn, and
    the poll and handlers inside it), labelled where the bar is wide
    enough; its instants ("i", "I", "n") as small triangles on top;
  - one lane per category of async spans ("b" ... "e" with a cat and an
    id, such as final/'s HTTP requests and coroutines), the spans packed
    into rows; a span nested in another of the same id (a coroutine's
    "running" stretches) is drawn inside it, darker; one never ended is
    hatched;
  - one small line plot per counter ("C"), stepping at each new value.

--from and --to cut a window out (milliseconds from the first event, as
the axis shows them). A bar too narrow to see is drawn two pixels wide, so
a 20 us handler in a second of trace is still a visible tick.

Needs matplotlib: Debian's python3-matplotlib, with /usr/bin/python3
(tools/install-deps.sh bench). The file is read with tools/check_trace.py's
load(); run that first to know the trace keeps the format's rules.
"""
import argparse
import os
import sys
import zlib

import matplotlib

matplotlib.use("Agg")  # no display: write files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_trace import load  # noqa: E402

DPI = 100
FONT_SIZE = 10
ROW_INCHES = 0.3         # one row of bars in a thread lane
ASYNC_ROW_INCHES = 0.22  # one row of async spans
COUNTER_INCHES = 0.55    # one counter's plot
MAX_ASYNC_ROWS = 16      # more spans at once than this share the last row
LABEL_MARGIN_INCHES = 1.7
LEGEND_COLUMNS = 9

# The loop's own kinds keep one colour everywhere (chapter 03's tracer and
# final/'s name them alike); any other name gets one from PALETTE.
KIND_COLOURS = {
    "turn": "#d4d4d4",
    "poll": "#a6cee3",
    "handler": "#6a3d9a",
    "callback": "#ff7f00",
    "timeout": "#33a02c",
    "signal": "#e31a1c",
    "run_in_executor": "#b15928",
}
PALETTE = ["#1f78b4", "#fb9a99", "#fdbf6f", "#cab2d6", "#b2df8a", "#8dd3c7", "#bebada",
           "#80b1d3", "#fccde5", "#ffed6f"]


def kind_of(name):
    """The first word of a bar's name: "handler iostream.cpp:310" is a handler."""
    return str(name).split(" ", 1)[0]


def colour_of(name):
    kind = kind_of(name)
    if kind in KIND_COLOURS:
        return KIND_COLOURS[kind]
    return PALETTE[zlib.crc32(kind.encode()) % len(PALETTE)]


def text_colour_on(colour):
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 140 else "black"


def label_choices(name, args):
    """Labels for a bar, longest first: the widest that fits is drawn."""
    shown = [f"{key} {value}" for key, value in (args or {}).items()
             if isinstance(value, (int, float, str)) and len(str(value)) <= 24][:2]
    if not shown:
        return [str(name), kind_of(name)]
    # "handler fd 7", then "fd 7": which descriptor says more than "handler".
    return [" ".join([str(name)] + shown), " ".join(shown), str(name), kind_of(name)]


class Trace:
    """The events of a file, sorted into what the picture draws, times in ms."""

    def __init__(self, events):
        timed = [e for e in events if e.get("ph") != "M" and "ts" in e]
        if not timed:
            raise ValueError("the trace has no timed events")
        self.origin_us = min(e["ts"] for e in timed)
        self.end_ms = max(self.ms(e["ts"] + e.get("dur", 0)) for e in timed)
        self.process_names, self.thread_names = {}, {}
        self.bars = {}      # (pid, tid) -> [(start, end, name, args)]
        self.instants = {}  # (pid, tid) -> [(time, name)]
        self.counters = {}  # (pid, "name" or "name key") -> [(time, value)]
        begins, spans = {}, []
        for event in events:
            phase, thread = event.get("ph"), (event.get("pid"), event.get("tid"))
            if phase != "M" and "ts" not in event:
                continue  # check_trace.py names such events; nothing to draw here
            if phase == "M":
                self.read_metadata(event, thread)
            elif phase == "X":
                start = self.ms(event["ts"])
                self.bars.setdefault(thread, []).append(
                    (start, start + event.get("dur", 0) / 1000, event.get("name", "?"),
                     event.get("args")))
            elif phase in ("i", "I", "n"):
                moment = (self.ms(event["ts"]), event.get("name"))
                self.instants.setdefault(thread, []).append(moment)
            elif phase == "C":
                for key, value in (event.get("args") or {}).items():
                    name = event.get("name", "?")
                    series = name if key == "value" else f"{name} {key}"
                    self.counters.setdefault((event.get("pid"), series), []).append(
                        (self.ms(event["ts"]), value))
            elif phase in ("b", "e"):
                key = (event.get("pid"), event.get("cat"), event.get("id"), event.get("name"))
                if phase == "b":
                    begins.setdefault(key, []).append(event)
                elif begins.get(key):
                    begin = begins[key].pop()
                    spans.append((key, self.ms(begin["ts"]), self.ms(event["ts"]), False))
        for key, unended in begins.items():  # never ended: drawn to the end, hatched
            spans += [(key, self.ms(begin["ts"]), self.end_ms, True) for begin in unended]
        self.async_lanes = pack_async_spans(spans)

    def ms(self, ts_us):
        return (ts_us - self.origin_us) / 1000

    def read_metadata(self, event, thread):
        name = (event.get("args") or {}).get("name")
        if event.get("name") == "process_name":
            self.process_names[event.get("pid")] = name
        elif event.get("name") == "thread_name":
            self.thread_names[thread] = name

    def thread_label(self, thread):
        pid, tid = thread
        name = self.thread_names.get(thread) or ("main thread" if pid == tid else "thread")
        process = self.process_names.get(pid)
        return f"{process}\n{name}, tid {tid}" if process else f"{name}\ntid {tid}"


def pack_async_spans(spans):
    """{(pid, cat): [(row, start, end, name, nested, unended, group)]}: each id's
    outermost span gets the first row free at its start; the spans inside it
    (nested: True) share its row and its group number."""
    by_id = {}
    for (pid, cat, span_id, name), start, end, unended in spans:
        by_id.setdefault((pid, cat, span_id), []).append(
            (start, -(end - start), end, name, unended))
    lanes = {}
    ordered = sorted(by_id.items(), key=lambda item: min(span[0] for span in item[1]))
    for group_number, ((pid, cat, _), group) in enumerate(ordered):
        group.sort(key=lambda span: span[:2])  # by start, the longest first
        outer_start, _, outer_end, _, _ = group[0]
        rows_free_at = lanes.setdefault((pid, cat), {"rows": [], "spans": []})["rows"]
        row = next((r for r, free in enumerate(rows_free_at) if free <= outer_start), None)
        if row is None:
            row = min(len(rows_free_at), MAX_ASYNC_ROWS - 1)
            if row == len(rows_free_at):
                rows_free_at.append(outer_end)
        rows_free_at[row] = max(rows_free_at[row], outer_end)
        for position, (start, _, end, name, unended) in enumerate(group):
            lanes[(pid, cat)]["spans"].append(
                (row, start, end, name, position > 0, unended, group_number))
    return {key: lane["spans"] for key, lane in lanes.items()}


def nesting_depths(bars):
    """[(depth, start, end, name, args)]: 0 for a bar inside no other, 1 inside one, ..."""
    placed, open_ends = [], []
    for start, end, name, args in sorted(bars, key=lambda bar: (bar[0], -(bar[1] - bar[0]))):
        while open_ends and open_ends[-1] <= start:
            open_ends.pop()
        placed.append((len(open_ends), start, end, name, args))
        open_ends.append(end)
    return placed


class Picture:
    """The figure: lanes stacked top to bottom, sharing one time axis."""

    def __init__(self, trace, window, width_px, title):
        self.trace, (self.t0, self.t1) = trace, window
        self.width_in = width_px / DPI
        plot_width_px = (self.width_in - LABEL_MARGIN_INCHES - 0.3) * DPI
        self.ms_per_px = (self.t1 - self.t0) / plot_width_px
        self.kinds_drawn = {}
        self.lanes = self.plan_lanes()
        if not self.lanes:
            raise ValueError(f"nothing to draw between {self.t0:.3f} and {self.t1:.3f} ms")
        heights = [inches for inches, _, _ in self.lanes]
        legend_rows = -(-len(self.kinds_drawn) // LEGEND_COLUMNS)
        top, bottom = (0.4 if title else 0.1) + 0.27 * legend_rows + 0.1, 0.55
        height_in = sum(heights) + 0.12 * len(heights) + top + bottom
        self.figure = plt.figure(figsize=(self.width_in, height_in), dpi=DPI)
        grid = self.figure.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.12,
                                        left=LABEL_MARGIN_INCHES / self.width_in,
                                        right=1 - 0.3 / self.width_in,
                                        top=1 - top / self.figure.get_figheight(),
                                        bottom=bottom / self.figure.get_figheight())
        self.axes = []
        for index, (_, draw, subject) in enumerate(self.lanes):
            ax = self.figure.add_subplot(grid[index], sharex=self.axes[0] if self.axes else None)
            ax.set_xlim(self.t0, self.t1)
            draw(ax, subject)
            ax.tick_params(labelbottom=index == len(self.lanes) - 1, labelsize=FONT_SIZE)
            self.axes.append(ax)
        self.axes[-1].set_xlabel("time (ms from the trace's first event)", fontsize=FONT_SIZE)
        if title:
            self.figure.suptitle(title, fontsize=FONT_SIZE + 2, va="top",
                                 y=1 - 0.12 / self.figure.get_figheight())
        self.draw_legend(top)

    def visible(self, start, end):
        return end >= self.t0 and start <= self.t1

    def plan_lanes(self):
        """[(height in inches, draw function, its subject)] for what the window shows."""
        lanes = []
        threads = sorted(set(self.trace.bars) | set(self.trace.instants),
                         key=lambda t: (str(t[0]), t[0] != t[1], str(t[1])))
        for thread in threads:
            bars = [bar for bar in nesting_depths(self.trace.bars.get(thread, []))
                    if self.visible(bar[1], bar[2])]
            instants = [moment for moment in self.trace.instants.get(thread, [])
                        if self.t0 <= moment[0] <= self.t1]
            for _, _, _, name, _ in bars:
                self.kinds_drawn.setdefault(kind_of(name), colour_of(name))
            if instants:
                self.kinds_drawn["instant"] = None
            if bars or instants:
                rows = max([b[0] for b in bars], default=0) + 1 + (0.6 if instants else 0)
                lanes.append((rows * ROW_INCHES, self.draw_thread, (thread, bars, instants)))
        for (pid, cat), spans in sorted(self.trace.async_lanes.items(), key=str):
            spans = [s for s in spans if self.visible(s[1], s[2])]
            if spans:
                self.kinds_drawn[f"{cat} (async)"] = colour_of(cat or "async")
                rows = max(s[0] for s in spans) + 1
                lanes.append((max(rows, 2) * ASYNC_ROW_INCHES, self.draw_async,
                              ((pid, cat), spans)))
        for (pid, name), points in sorted(self.trace.counters.items(), key=str):
            if any(self.t0 <= t <= self.t1 for t, _ in points) or points[0][0] < self.t0:
                lanes.append((COUNTER_INCHES, self.draw_counter, (name, points)))
        return lanes

    def drawn_width(self, start, end):
        """A bar's start and width, at least two pixels wide so that it shows."""
        return start, max(end - start, 2 * self.ms_per_px)

    def draw_bars(self, ax, bars):
        """Bars given as (start, end, y, height, colour, hatch): one collection per
        look, so that a trace of many thousands draws in seconds. A white edge
        parts a bar from the next, unless it is too thin to spare one."""
        looks = {}
        for start, end, y, height, colour, hatch in bars:
            wide = (end - start) / self.ms_per_px > 4
            looks.setdefault((not wide, y, height, colour, hatch), []).append(
                self.drawn_width(start, end))
        # Wide before thin, tall before short: what is drawn later stays visible.
        order = sorted(looks.items(), key=lambda look: (look[0][0], -look[0][2]))
        for (thin, y, height, colour, hatch), ranges in order:
            ax.broken_barh(ranges, (y, height), facecolors=colour, hatch=hatch,
                           edgecolor="none" if thin else "white", linewidth=0 if thin else 0.8)

    def put_label(self, ax, start, end, y, choices, colour, covered=()):
        """The first of `choices` that fits in the bar's visible part, centred in
        the widest stretch of it that no `covered` (start, end) hides."""
        stretches, free_from = [], max(start, self.t0)
        for cover_start, cover_end in sorted(covered):
            stretches.append((free_from, min(cover_start, self.t1)))
            free_from = max(free_from, cover_end)
        stretches.append((free_from, min(end, self.t1)))
        left, right = max(stretches, key=lambda stretch: stretch[1] - stretch[0])
        room_px = (right - left) / self.ms_per_px - 6
        for text in choices:
            if len(text) * (FONT_SIZE - 1) * 0.6 * DPI / 72 <= room_px:
                ax.text((left + right) / 2, y, text, ha="center", va="center",
                        fontsize=FONT_SIZE - 1, color=text_colour_on(colour), clip_on=True)
                return

    def lane_label(self, ax, text):
        ax.set_yticks([])
        ax.text(-0.01, 0.5, text, transform=ax.transAxes, ha="right", va="center",
                fontsize=FONT_SIZE)

    def draw_thread(self, ax, subject):
        thread, bars, instants = subject
        offset = 0.6 if instants else 0
        self.draw_bars(ax, [(start, end, depth + offset + 0.08, 0.84, colour_of(name), None)
                            for depth, start, end, name, _ in bars])
        for depth, start, end, name, args in bars:
            self.put_label(ax, start, end, depth + offset + 0.5, label_choices(name, args),
                           colour_of(name))
        for time, name in instants:
            ax.plot([time], [0.3], marker="v", color="black", markersize=5)
        rows = max([b[0] for b in bars], default=0) + 1 + offset
        ax.set_ylim(rows, 0)
        self.lane_label(ax, self.trace.thread_label(thread))

    def draw_async(self, ax, subject):
        (pid, cat), spans = subject
        colour = colour_of(cat or "async")
        inner = {}  # group -> [(start, end)] of the spans nested in its outermost one
        for _, start, end, _, nested, _, group in spans:
            if nested:
                inner.setdefault(group, []).append((start, end))
        def look(nested):  # (fill, height): a nested span darker and thinner, inside its outer one
            return ("#404040", 0.5) if nested else (colour, 0.84)

        self.draw_bars(ax, [(start, end, row + 0.5 - look(nested)[1] / 2, look(nested)[1],
                             look(nested)[0], "//" if unended else None)
                            for row, start, end, _, nested, unended, _ in spans])
        for row, start, end, name, nested, _, group in spans:
            self.put_label(ax, start, end, row + 0.5, [str(name)], look(nested)[0],
                           covered=() if nested else inner.get(group, ()))
        ax.set_ylim(max(max(s[0] for s in spans) + 1, 2), 0)
        self.lane_label(ax, f"{cat or 'async'}\n(async spans)")

    def draw_counter(self, ax, subject):
        name, points = subject
        times = [t for t, _ in points] + [self.trace.end_ms]
        values = [v for _, v in points] + [points[-1][1]]
        ax.step(times, values, where="post", color="#1f78b4", linewidth=1.4)
        low, high = min(values), max(values)
        ax.set_ylim(low - 0.15 * (high - low or 1), high + 0.25 * (high - low or 1))
        ax.set_yticks(sorted({low, high}))
        ax.tick_params(axis="y", labelsize=FONT_SIZE - 1)
        ax.grid(axis="y", linewidth=0.3)
        ax.text(-0.01, 0.5, name, transform=ax.transAxes, ha="right", va="center",
                fontsize=FONT_SIZE, wrap=True)
        ax.yaxis.tick_right()

    def draw_legend(self, top):
        """The colours' meanings, in rows of LEGEND_COLUMNS above the lanes."""
        handles = [Patch(color=colour, label=kind) for kind, colour in self.kinds_drawn.items()
                   if colour is not None]
        if "instant" in self.kinds_drawn:
            handles.append(plt.Line2D([], [], marker="v", color="black", linestyle="",
                                      label="instant"))
        if handles:
            self.figure.legend(handles=handles, loc="lower center",
                               ncol=min(len(handles), LEGEND_COLUMNS), fontsize=FONT_SIZE,
                               frameon=False, borderaxespad=0.1,
                               bbox_to_anchor=(0.5, 1 - top / self.figure.get_figheight()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace", help="a trace-event JSON file")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--from", dest="start", type=float, help="window start, ms")
    parser.add_argument("--to", dest="end", type=float, help="window end, ms")
    parser.add_argument("--title", help="a line above the picture")
    parser.add_argument("--width", type=int, default=1200, help="pixels (default 1200)")
    args = parser.parse_args()
    try:
        trace = Trace(load(args.trace))
        start = args.start if args.start is not None else 0.0
        end = args.end if args.end is not None else trace.end_ms
        if end <= start:
            raise ValueError(f"--to ({end}) must be after --from ({start})")
        picture = Picture(trace, (start, end), args.width, args.title)
    except ValueError as error:
        print(f"trace_plot: {error}", file=sys.stderr)
        return 1
    picture.figure.savefig(args.out, dpi=DPI, metadata={"Software": None})
    print(f"trace_plot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
