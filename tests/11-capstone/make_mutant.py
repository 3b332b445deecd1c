#!/usr/bin/env python3
"""Write one capstone mutant: the reference chat with one mistake in it.

    make_mutant.py --catalogue mutants.txt --name NAME --reference DIR --out DIR/chat.cpp

mutants.txt lists the mutants, in the format of tests/mutants/ (see
tools/mutants.py) with a name and the driver's parts in the header:

    === waiter_never_forgotten: part 2
    # comments between the header and the first block
    file chat.cpp
    --- find
    (lines of the reference, which must occur exactly once)
    --- replace
    (what they become)

A mistake that takes more than one edit (a mutex declared, then locked in
every handler) has several find/replace pairs, applied in order: each
find must occur exactly once in the text the pairs before it left.

--out is the mutated copy of the reference's file of that name, which
must be the one the mutant names: the build (tests/11-capstone/
CMakeLists.txt) compiles a mutant's chat.cpp and links it with the
reference's main.cpp, compiled once, so a mutant edits chat.cpp. A find
that the reference no longer holds stops the build with a message saying
which mutant to update. Standard library only.
"""
import argparse
import os
import re
import sys


def parse(path):
    """{name: {"file", "edits": [(find, replace), ...]}} from the catalogue."""
    mutants, current, block = {}, None, None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, line in enumerate(lines, start=1):
        header = re.match(r"^=== ([a-z0-9_]+): parts? [0-9 ]+$", line)
        if header:
            current, block = {"edits": []}, None
            mutants[header.group(1)] = current
        elif line.startswith("--- ") and current is not None:
            block = line[4:].strip()
            if block == "find":
                current["edits"].append({"find": [], "replace": []})
            elif block != "replace" or not current["edits"] or current["edits"][-1]["replace"]:
                sys.exit(f"{path}:{number}: expected '--- find', or one '--- replace' after it")
        elif block is not None:
            current["edits"][-1][block].append(line)
        elif line.startswith("file ") and current is not None:
            current["file"] = line[5:].strip()
        elif line.strip() and not line.startswith("#"):
            sys.exit(f"{path}:{number}: unexpected line: {line!r}")
    for mutant in mutants.values():
        # A block runs to the next block or header; the blank lines before
        # that are layout.
        mutant["edits"] = [("\n".join(edit["find"]).rstrip("\n"), "\n".join(edit["replace"]).rstrip("\n"))
                           for edit in mutant["edits"]]
    return mutants


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    mutants = parse(args.catalogue)
    if args.name not in mutants:
        sys.exit(f"make_mutant: no mutant {args.name} in {args.catalogue}")
    mutant = mutants[args.name]
    if not mutant.get("file") or not mutant["edits"] or not all(find for find, _ in mutant["edits"]):
        sys.exit(f"make_mutant: {args.name} needs a 'file' line and a '--- find' block")

    name = os.path.basename(args.out)
    if mutant["file"] != name:
        sys.exit(f"make_mutant: mutant {args.name} edits {mutant['file']}; the build makes its "
                 f"{name} (the other files are the reference's)")
    with open(os.path.join(args.reference, name), encoding="utf-8") as f:
        text = f.read()
    for number, (find, replace) in enumerate(mutant["edits"], start=1):
        count = text.count(find)
        if count != 1:
            sys.exit(f"make_mutant: find block {number} of mutant {args.name} occurs {count} times "
                     f"in reference/{name}, not once: update {args.catalogue}")
        text = text.replace(find, replace)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
