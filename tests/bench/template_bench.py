#!/usr/bin/python3
"""The template engine against Python Tornado's and Jinja2: `make bench-template`.

    /usr/bin/python3 tests/bench/template_bench.py                  # 5 rounds of 2 s (about 50 s)
    /usr/bin/python3 tests/bench/template_bench.py --quick          # 1 round of 0.3 s (a few s)
    /usr/bin/python3 tests/bench/template_bench.py --rounds 7 --seconds 3

One page, rendered by every engine with the same data (make_arguments(): a
title, a user, 4 nav links and 100 product rows whose names and tags need
escaping): tests/bench/template/page.html, which extends base.html and
includes row.html for every row and footer.html in its footer block, with
autoescaping on, and its twin in Jinja2's language (*.jinja). The engines:

  ours, compiled
               build/bin/template_bench --compiled (template_bench.cpp): the
               templates compiled into C++ when the program was built
               (tornado/template_compiled.h, tornado_compile_templates in
               CMakeLists.txt), as Tornado and Jinja2 compile theirs into
               Python; the engine the goals judge
  ours, interpreted
               template_bench: tornado/template.h's interpreter over the
               parsed templates (what runs when a file changed since the build)
  C++ by hand  template_bench --by-hand: the same page written as plain C++ over
               the same JSON, no template (shown, not judged: the floor any
               engine reading this data stands on)
  C++ compiled (sketch)
               template_bench --compiled-sketch: the page as a template compiler
               would write it in C++, calling the engine's own operations
               (template_compiled_sketch.cpp; shown, not judged: what compiling
               templates ahead of time would gain)
  tornado      tornado.template.Loader, the same *.html files
  jinja2       jinja2.Environment(FileSystemLoader, autoescape=True): page.jinja,
               the row's markup inline in its loop, footer.jinja included
  jinja2 (include per row)
               page_include_rows.jinja: {% include "row.jinja" %} in the loop,
               as the Tornado page does (shown, not judged: Jinja2 makes a
               new context for every include, which costs it about 4x)

First every engine renders the page once: ours must be byte-identical to
Python Tornado's, and Jinja2's identical too once its quote entity (&#34;,
markupsafe's) reads &quot; (Tornado's); otherwise the script says where the
pages part and exits 1. Then each engine renders for a warm-up, unmeasured,
and --rounds rounds of --seconds seconds follow, the engines taking turns
(round r starts r engines further along), so that whatever else the machine
does in those seconds hits every engine alike. A round counts whole renders
(generate() / render() of the loaded template: data in, page out; parsing
happened once, in the loader); an engine's figure is its median round.
Ours runs in its own process for each round (template_bench --rounds=1,
after its own warm-up).

Prints a Markdown table (engine, renders/s, µs per render, ours ÷ engine)
and the goals (ours, compiled, at least 20x Tornado's renders/s and 5x
Jinja2's),
and writes it to OUT/template.md, with the pages as OUT/template-*.html.
Exits 0 when the pages match and every engine has a number, whatever the
goals' verdicts (speed goals are judged here, never in tests); 1 when the
pages differ or a number is missing; 77 (CTest's skip code) when Tornado or
Jinja2 cannot be imported (Debian: python3-tornado python3-jinja2, which
`tools/install-deps.sh template` installs). Run under another python3, it
starts again under /usr/bin/python3 (when there is one).
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SYSTEM_PYTHON = "/usr/bin/python3"
SKIP = 77

GOALS = [  # (engine, ours ÷ engine at least)
    ("tornado", 20.0),
    ("jinja2", 5.0),
]

# The yardsticks are Debian's Tornado and Jinja2: run under their python3.
if (os.access(SYSTEM_PYTHON, os.X_OK)
        and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)):
    os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])

try:
    import jinja2
    import tornado
    import tornado.template
except ImportError as missing:
    print("SKIP: %s (Debian: apt-get install python3-tornado python3-jinja2, or "
          "tools/install-deps.sh template)" % missing, flush=True)
    sys.exit(SKIP)


# ---- the page's data ----------------------------------------------------------

ROWS = 100
NAMES = ['Widget <b>"Deluxe"</b>', "Tom's Gadget", "Salt & Pepper Mill", "Plain Mug",
         "Caf\u00e9 <Cr\u00e8me>"]
TAGS = ["new", "sale", "b&w", "<eco>", "gift's"]


def make_arguments():
    """The page's data; template_bench.cpp's make_arguments() builds the same."""
    rows = [{
        "id": i + 1,
        "name": "%s #%d" % (NAMES[i % 5], i + 1),
        "price": 1.5 + i * 3.17,
        "tags": [TAGS[(i + k) % 5] for k in range(i % 3 + 1)],
        "in_stock": i % 4 != 3,
    } for i in range(ROWS)]
    return {
        "title": 'Spring "Sale" <2024> & more',
        "user": {"name": "O'Brien & <Sons>"},
        "nav": [{"href": "/", "label": "Home"},
                {"href": "/shop?sort=price&dir=asc", "label": "Shop"},
                {"href": "/cart", "label": "Cart <3>"},
                {"href": "/about", "label": 'About "us"'}],
        "footer_note": 'Prices in \u20ac, "VAT" included & <no> refunds',
        "rows": rows,
    }


# ---- the engines --------------------------------------------------------------

def time_renders(render, seconds):
    """Renders until `seconds` have passed: (renders, seconds taken)."""
    renders = 0
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline:
        render()
        renders += 1
        now = time.perf_counter()
    return renders, now - start


class PythonEngine:
    def __init__(self, name, what, render):
        self.name = name
        self.what = what
        self.render = render  # () -> the page as UTF-8 bytes
        self.rates = []

    def page(self):
        return self.render()

    def warm_up(self, seconds):
        time_renders(self.render, seconds)

    def measure(self, seconds):
        renders, taken = time_renders(self.render, seconds)
        self.rates.append(renders / taken)


class OursEngine:
    """template_bench: our engine, compiled (--compiled) or interpreted, or the
    page in plain C++ (--by-hand), or as a smarter compiler would write it
    (--compiled-sketch)."""

    MODES = {
        "compiled": ("ours, compiled",
                     "tornado/template_compiled.h, the templates compiled into C++ (%s --compiled)"),
        None: ("ours, interpreted", "tornado/template.h's interpreter (%s)"),
        "by-hand": ("C++ by hand", "plain C++ over the same JSON, no template (%s --by-hand)"),
        "compiled-sketch": ("C++ compiled (sketch)",
                            "the page as a compiler would emit it (%s --compiled-sketch)"),
    }

    def __init__(self, binary, templates, out_dir, mode=None):
        self.name, what = self.MODES[mode]
        self.mode = mode
        self.binary = binary
        self.templates = templates
        self.out_dir = out_dir
        self.flags = ["--" + mode] if mode else []
        shown = os.path.relpath(binary, ROOT)
        shown = binary if shown.startswith("..") else shown
        self.what = what % shown
        self.rates = []
        self.warmup = 0.5

    def run(self, *arguments):
        command = [self.binary, self.templates] + self.flags + list(arguments)
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
        if done.returncode != 0:
            raise SystemExit("FAIL: %s exited with %d:\n%s%s" % (
                " ".join(command), done.returncode, done.stdout, done.stderr))
        return done.stdout

    def page(self):
        slug = self.mode or "interpreted"
        path = os.path.join(self.out_dir, "template-%s.html" % slug)
        self.run("--out=" + path, "--rounds=0")
        with open(path, "rb") as f:
            return f.read()

    def warm_up(self, seconds):
        self.warmup = seconds  # every round's process warms up on its own

    def measure(self, seconds):
        output = self.run("--rounds=1", "--seconds=%g" % seconds, "--warmup=%g" % self.warmup)
        match = re.search(r"^RESULT renders_per_second=([0-9.]+)", output, re.M)
        if not match:
            raise SystemExit("FAIL: template_bench printed no RESULT line:\n" + output)
        self.rates.append(float(match.group(1)))


def make_engines(binary, templates, out_dir, arguments):
    tornado_loader = tornado.template.Loader(templates)  # autoescape="xhtml_escape"
    tornado_page = tornado_loader.load("page.html")
    # keep_trailing_newline: Tornado keeps a file's last newline, so the
    # included footer ends the same way in both.
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(templates),
                                     autoescape=True, keep_trailing_newline=True)
    jinja_page = environment.get_template("page.jinja")
    jinja_include_page = environment.get_template("page_include_rows.jinja")
    return [
        OursEngine(binary, templates, out_dir, mode="compiled"),
        OursEngine(binary, templates, out_dir),
        OursEngine(binary, templates, out_dir, mode="by-hand"),
        OursEngine(binary, templates, out_dir, mode="compiled-sketch"),
        PythonEngine("tornado", "tornado.template %s, Python %s" % (
            tornado.version, platform.python_version()),
            lambda: tornado_page.generate(**arguments)),
        PythonEngine("jinja2", "Jinja2 %s, page.jinja" % jinja2.__version__,
                     lambda: jinja_page.render(**arguments).encode("utf-8")),
        PythonEngine("jinja2 (include per row)", "Jinja2 %s, page_include_rows.jinja"
                     % jinja2.__version__,
                     lambda: jinja_include_page.render(**arguments).encode("utf-8")),
    ]


# ---- the identity check -------------------------------------------------------

def first_difference(a, b):
    """Where two pages part: 'line N: ... vs ...'."""
    a_lines, b_lines = a.split(b"\n"), b.split(b"\n")
    for number, (x, y) in enumerate(zip(a_lines, b_lines), 1):
        if x != y:
            return "line %d:\n  %r\n  %r" % (number, x, y)
    return "one page is longer: %d lines vs %d" % (len(a_lines), len(b_lines))


def check_pages(engines, out_dir):
    """Ours == Tornado's, byte for byte; Jinja2's too but for its &#34;."""
    pages = {engine.name: engine.page() for engine in engines}
    for engine in engines:
        if not isinstance(engine, OursEngine):
            slug = re.sub(r"[^a-z0-9]+", "-", engine.name).strip("-")
            with open(os.path.join(out_dir, "template-%s.html" % slug), "wb") as f:
                f.write(pages[engine.name])
    reference = pages["tornado"]
    notes, failures = [], []
    for name in ("ours, compiled", "ours, interpreted", "C++ by hand", "C++ compiled (sketch)"):
        if pages[name] == reference:
            notes.append("%s: byte-identical to Python Tornado's page (%d bytes)" % (
                name, len(reference)))
        else:
            failures.append("%s differs from Python Tornado's page (%d vs %d bytes), %s" % (
                name, len(pages[name]), len(reference), first_difference(pages[name], reference)))
    for name in pages:
        if name.startswith("jinja2"):
            page = pages[name].replace(b"&#34;", b"&quot;")
            if page == reference:
                notes.append("%s: identical to Tornado's once its &#34; reads &quot; "
                             "(markupsafe's entity for a double quote)" % name)
            else:
                failures.append("%s differs from Tornado's page, %s" % (
                    name, first_difference(page, reference)))
    return notes, failures


# ---- the report ---------------------------------------------------------------

def number(value, decimals=0):
    return "{:,.{}f}".format(value, decimals)


def report(engines, args, notes, load_before, load_after):
    ours = statistics.median(engines[0].rates)
    lines = [
        "# Template engine: ours against Python Tornado and Jinja2",
        "",
        "One page (`tests/bench/template/page.html` extends `base.html`, includes "
        "`row.html` for each of its 100 rows and `footer.html`; autoescaped), the same "
        "data for every engine. Median of %d round%s of %g s after a %g s warm-up; the "
        "engines take turns, round by round." % (
            args.rounds, "" if args.rounds == 1 else "s", args.seconds, args.warmup),
        "",
        "| engine | renders/s | µs per render | ours (compiled) ÷ engine | rounds, renders/s (min–max) |",
        "|---|---:|---:|---:|---:|",
    ]
    for engine in engines:
        median = statistics.median(engine.rates)
        lines.append("| %s | %s | %s | %s | %s–%s |" % (
            engine.name, number(median), number(1e6 / median, 1),
            "%.1fx" % (ours / median), number(min(engine.rates)), number(max(engine.rates))))
    lines += ["", "Goals:", ""]
    for name, goal in GOALS:
        engine = next(e for e in engines if e.name == name)
        ratio = round(ours / statistics.median(engine.rates), 1)  # judged as printed
        lines.append("- ours (compiled) ≥ %gx %s's renders/s: %.1fx, **%s**" % (
            goal, engine.name, ratio, "PASS" if ratio >= goal else "FAIL"))
    by_hand = statistics.median(next(e for e in engines if e.name == "C++ by hand").rates)
    tornado_rate = statistics.median(next(e for e in engines if e.name == "tornado").rates)
    interpreted = statistics.median(next(e for e in engines if e.name == "ours, interpreted").rates)
    lines.append("- (not judged) ours, interpreted: %.1fx tornado's renders/s; compiling makes "
                 "it %.2fx faster" % (interpreted / tornado_rate, ours / interpreted))
    lines.append("- (not judged) the floor: C++ by hand is %.1fx tornado's renders/s, and ours "
                 "(compiled) runs at %.0f%% of its speed" % (by_hand / tornado_rate,
                                                             100 * ours / by_hand))
    sketch = statistics.median(next(e for e in engines if e.name == "C++ compiled (sketch)").rates)
    lines.append("- (not judged) the sketch, the page as a compiler with type fast paths would "
                 "write it: %.1fx tornado's renders/s, %.0f%% of the floor's speed" % (
                     sketch / tornado_rate, 100 * sketch / by_hand))
    lines += ["", "Pages:", ""] + ["- " + note for note in notes]
    lines += ["", "Engines:", ""] + ["- %s: %s" % (e.name, e.what) for e in engines]
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), "")
    except OSError:
        pass
    lines += ["", "Machine: %s, %d cores, load average %s before and %s after." % (
        cpu or platform.machine(), os.cpu_count() or 0, load_before, load_after)]
    if args.quick:
        lines += ["", "(--quick: one short round; the figures only show that the harness "
                  "works.)"]
    return "\n".join(lines) + "\n"


def load_average():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                        help="where template_bench is (default build/bin)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                        help="where template.md and the pages go (default build/bench)")
    parser.add_argument("--templates", default=os.path.join(HERE, "template"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per round and engine")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds, per engine")
    parser.add_argument("--quick", action="store_true", help="1 round of 0.3 s, 0.1 s warm-up")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 0.3, 0.1
    if args.rounds < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--rounds must be at least 1, --seconds above 0")

    binary = os.path.join(os.path.abspath(args.bin), "template_bench")
    if not os.access(binary, os.X_OK):
        print("FAIL: %s is not built (cmake --build build --target template_bench)" % binary)
        return 1
    os.makedirs(args.out, exist_ok=True)
    templates = os.path.abspath(args.templates)

    engines = make_engines(binary, templates, args.out, make_arguments())
    notes, failures = check_pages(engines, args.out)
    for note in notes:
        print(note, flush=True)
    if failures:
        for failure in failures:
            print("FAIL: " + failure, flush=True)
        print("The pages are in %s (template-*.html)." % args.out)
        return 1

    load_before = load_average()
    for engine in engines:
        engine.warm_up(args.warmup)
    for round_number in range(args.rounds):
        turn = engines[round_number % len(engines):] + engines[:round_number % len(engines)]
        for engine in turn:
            engine.measure(args.seconds)
        print("round %d: %s" % (round_number + 1, ", ".join(
            "%s %s/s" % (e.name, number(e.rates[-1])) for e in engines)), flush=True)
    load_after = load_average()

    missing = [e.name for e in engines if not e.rates or not all(r > 0 for r in e.rates)]
    if missing:
        print("FAIL: no renders/s for " + ", ".join(missing))
        return 1

    text = report(engines, args, notes, load_before, load_after)
    path = os.path.join(args.out, "template.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print()
    print(text, end="")
    print("\nWritten to %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
