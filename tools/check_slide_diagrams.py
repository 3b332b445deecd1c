#!/usr/bin/env python3
"""Check that every diagram on a slide can be read from the back of a room.

A deck shows a Graphviz diagram as ![w:900](img/NAME.svg) (or h:NNN, or a
"bg right:50% fit" background). Marp scales the SVG to that size on a
1280x720 slide, so a wide diagram with many words comes out with labels a
few pixels high. This script renders each slides/diagrams/NAME.dot with
`dot -Tsvg`, works out the size each label is shown at, and fails when one
is smaller than MIN_TEXT_PX.

    python3 tools/check_slide_diagrams.py           # every deck
    python3 tools/check_slide_diagrams.py --list    # the size of each diagram's text

Standard library only; needs Graphviz's `dot` (tools/install-deps.sh slides).
"""
import argparse
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 720  # Marp's default 16:9 slide, in CSS pixels
# The body text of Marp's default theme is 29 px; a label at half of that
# still reads on a projector, one at a third does not.
MIN_TEXT_PX = 14.0
# Room on a slide for a diagram beside the title (the theme's padding taken off).
MAX_SHOWN_WIDTH, MAX_SHOWN_HEIGHT = 1160, 600

IMAGE = re.compile(r"!\[([^\]]*)\]\(img/([^)]+)\.svg\)")


def shown_width(spec, view_width, view_height):
    """The width in slide pixels at which Marp shows an image with this spec."""
    width = re.search(r"\bw:(\d+)", spec)
    height = re.search(r"\bh:(\d+)", spec)
    if width:
        return float(width.group(1))
    if height:
        return float(height.group(1)) * view_width / view_height
    share = re.search(r"(\d+)%", spec)  # a split background: "bg right:45% fit"
    if "bg" in spec and share:
        box_width = SLIDE_WIDTH * int(share.group(1)) / 100
        return view_width * min(box_width / view_width, SLIDE_HEIGHT / view_height)
    # No size given: Marp shows the SVG at its own size, at most the slide's width.
    return min(view_width, SLIDE_WIDTH)


def render(dot_file):
    try:
        result = subprocess.run(["dot", "-Tsvg", dot_file], capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("check_slide_diagrams: Graphviz's dot is missing: tools/install-deps.sh slides")
    if result.returncode != 0:
        sys.exit(f"check_slide_diagrams: dot failed on {dot_file}:\n{result.stderr}")
    return result.stdout


def text_sizes(svg):
    """The SVG's viewBox width and height, and the font size of each label."""
    box = re.search(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) ([\d.]+)"', svg)
    sizes = [float(size) for size in re.findall(r'font-size="([\d.]+)"', svg)]
    return float(box.group(1)), float(box.group(2)), sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="print every diagram's text size")
    args = parser.parse_args()
    too_small = []
    for deck in sorted(glob.glob(os.path.join(ROOT, "slides", "[0-9][0-9]-*.md"))):
        with open(deck, encoding="utf-8") as f:
            text = f.read()
        for spec, name in IMAGE.findall(text):
            dot_file = os.path.join(ROOT, "slides", "diagrams", name + ".dot")
            if not os.path.exists(dot_file):
                sys.exit(f"check_slide_diagrams: {os.path.basename(deck)} shows img/{name}.svg, "
                         f"but there is no slides/diagrams/{name}.dot")
            view_width, view_height, sizes = text_sizes(render(dot_file))
            scale = shown_width(spec, view_width, view_height) / view_width
            smallest = min(sizes) * scale if sizes else MIN_TEXT_PX
            line = (f"{os.path.basename(deck)[:2]} {name:28} {spec:18} "
                    f"smallest label {smallest:4.1f} px, shown {view_width * scale:.0f} x "
                    f"{view_height * scale:.0f}")
            if args.list:
                print(line)
            shown_height = view_height * scale
            if smallest < MIN_TEXT_PX:
                too_small.append(line)
            elif "bg" not in spec and (view_width * scale > MAX_SHOWN_WIDTH or
                                       shown_height > MAX_SHOWN_HEIGHT):
                too_small.append(line + f" (larger than the {MAX_SHOWN_WIDTH} x "
                                 f"{MAX_SHOWN_HEIGHT} a slide has room for)")
    if too_small:
        print(f"Labels under {MIN_TEXT_PX:.0f} px on a {SLIDE_WIDTH}x{SLIDE_HEIGHT} slide "
              "cannot be read on a projector. Shorten the labels, lay the graph out")
        print("narrower (rankdir, fewer nodes per rank), split it, or give it more of "
              "the slide:")
        for line in too_small:
            print("  " + line)
        return 1
    print("check_slide_diagrams: every diagram's labels are at least "
          f"{MIN_TEXT_PX:.0f} px on the slide")
    return 0


if __name__ == "__main__":
    sys.exit(main())
