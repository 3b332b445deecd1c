#!/usr/bin/env python3
"""Checks that final/'s layers include only downwards (the test final.layers).

    tools/check_layers.py [--root DIR]     # DIR: another checkout (the test's planted copy)

final/src/ holds one folder per layer (core, net, http, template, web,
testing). Each folder's README.md says, in three lines this script reads:

    Public headers: tornado/ioloop.h, tornado/gen.h, ...
    May include: core.
    Included by: net, http, template, web, testing.

The add-ons beside the framework (final/postgres, final/curl, final/redis,
final/http2: every folder of final/ with an include/tornado/ of its own)
are layers too, with the same three lines in their README.md: an add-on
stands on the framework's layers, and no layer of the framework may
include an add-on. The rule is the "May include" line. A file of a layer
is every file in its folder (an add-on's src/), and every public header
listed on its "Public headers" line. The check fails, naming the file,
the line and the rule, when:

  - a file includes a header of a layer its folder may not include;
  - a public header (final/include/tornado/*.h, or an add-on's
    include/tornado/*.h) is listed by no folder, or by two;
  - a folder's "Included by" line is not the inverse of the others'
    "May include" lines (so the two lines a reader sees cannot drift apart);
  - an example (final/examples/) includes a header of final/src: a program
    uses the public headers only.

It also checks that every source file's tests can be found by name: each
final/src/LAYER/NAME.cpp has tests/final/NAME_test.cpp, or its folder's
README lists where its tests are instead, on a fourth line:

    Tested elsewhere: poller_epoll.cpp in ioloop_test.cpp (a remark); ...

An entry for a file that has a test file of its name, or that names a
test file that does not exist, is a problem too (the line would mislead).

Standard library only; exits 0 and prints a summary when all holds.
"""

import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
INCLUDE_LINE = re.compile(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]')
SOURCE_SUFFIXES = (".h", ".cpp", ".inc")


def set_root(root):
    """The checkout to check: this script's own, or --root's."""
    global ROOT, SRC, INCLUDE, TESTS
    ROOT = pathlib.Path(root).resolve()
    SRC = ROOT / "final" / "src"
    INCLUDE = ROOT / "final" / "include" / "tornado"
    TESTS = ROOT / "tests" / "final"


def addon_folders():
    """final/NAME/ for each add-on: a folder with an include/tornado/ of its own."""
    return sorted(path.parent.parent for path in (ROOT / "final").glob("*/include/tornado")
                  if path.parent.parent != ROOT / "final")


def read_list(readme, label):
    for line in readme.read_text().splitlines():
        if line.startswith(label + ":"):
            items = line[len(label) + 1:].strip().rstrip(".")
            if items == "none":
                return []
            return [item.strip().strip("`") for item in items.split(",") if item.strip()]
    sys.exit(f"check_layers: {readme.relative_to(ROOT)} has no '{label}:' line")


def read_layers():
    """{name: its rules and where its files are}: final/src's folders, then
    the add-ons."""
    layers = {}
    # Lowest first: a layer may include fewer than the ones above it.
    readmes = sorted(SRC.glob("*/README.md"), key=lambda r: len(read_list(r, "May include")))
    folders = [(readme, readme.parent, INCLUDE, False) for readme in readmes]
    for addon in addon_folders():
        readme = addon / "README.md"
        if not readme.exists():
            sys.exit(f"check_layers: the add-on {addon.relative_to(ROOT)}/ has no README.md "
                     "(its 'Public headers', 'May include' and 'Included by' lines)")
        folders.append((readme, addon / "src", addon / "include" / "tornado", True))
    for readme, sources, include, addon in folders:
        layers[readme.parent.name] = {
            "headers": read_list(readme, "Public headers"),
            "may_include": set(read_list(readme, "May include")),
            "included_by": set(read_list(readme, "Included by")),
            "sources": sources, "include": include, "addon": addon,
            "readme": readme.relative_to(ROOT),
        }
    return layers


def layer_of_header(layers, problems):
    """Maps "tornado/NAME.h" to the one layer that lists it."""
    owner = {}
    for layer, rules in layers.items():
        for header in rules["headers"]:
            if header in owner:
                problems.append(f"{header} is listed by both {owner[header]}/ and {layer}/")
            owner[header] = layer
    for include in sorted({rules["include"] for rules in layers.values()}):
        for path in sorted(include.glob("*.h")):
            name = f"tornado/{path.name}"
            if name not in owner:
                problems.append(f"{name} is in no layer: add it to the 'Public headers' line "
                                "of the README.md of the folder that implements it")
    for name, layer in owner.items():
        if not (layers[layer]["include"].parent / name).exists():
            problems.append(f"{name} is listed by {layers[layer]['readme']} but is not in "
                            f"{layers[layer]['include'].relative_to(ROOT)}/")
    return owner


def layer_of_include(included, owner):
    if included.startswith("tornado/"):
        return owner.get(included)
    folder = included.split("/")[0]
    if "/" in included and (SRC / folder).is_dir():
        return folder
    return None  # the standard library, OpenSSL, zlib and the like


def files_with_layers(layers):
    for layer, rules in layers.items():
        for path in sorted(rules["sources"].rglob("*")):
            if path.suffix in SOURCE_SUFFIXES:
                yield path, layer
    for layer, rules in layers.items():
        for header in rules["headers"]:
            yield rules["include"].parent / header, layer


def includes_of(path):
    """(line number, what is included) for each #include of a file."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = INCLUDE_LINE.match(line)
        if match:
            yield number, match.group(1)


def check_includes(layers, owner, problems):
    count = 0
    for path, layer in files_with_layers(layers):
        if not path.exists():
            continue
        for number, included in includes_of(path):
            target = layer_of_include(included, owner)
            if target is None and not included.startswith("tornado/") and "/" not in included:
                if (path.parent / included).exists() and path.parent.parent == SRC:
                    problems.append(f"{path.relative_to(ROOT)}:{number}: write "
                                    f'#include "{layer}/{included}", naming the folder')
                continue
            if target is None:
                continue
            count += 1
            if target not in layers[layer]["may_include"]:
                allowed = ", ".join(sorted(layers[layer]["may_include"]))
                problems.append(f"{path.relative_to(ROOT)}:{number}: {layer}/ includes "
                                f"{included} ({target}/), but may include only {allowed} "
                                f"({layers[layer]['readme']})")
    return count


def check_examples(layers, problems):
    """The examples are programs: they include public headers, never a
    file of final/src. (An add-on's src/ is on no program's include path.)"""
    count = 0
    framework_folders = {layer for layer, rules in layers.items() if not rules["addon"]}
    for path in sorted((ROOT / "final" / "examples").rglob("*")):
        if path.suffix not in SOURCE_SUFFIXES:
            continue
        for number, included in includes_of(path):
            count += 1
            folder = included.split("/")[0]
            if "/" in included and folder in framework_folders:
                problems.append(f"{path.relative_to(ROOT)}:{number}: an example includes "
                                f"{included}, a file of final/src/{folder}/; a program "
                                "includes the public headers (tornado/...) only")
    return count


def check_inverse(layers, problems):
    for layer, rules in layers.items():
        expected = {other for other, r in layers.items()
                    if other != layer and layer in r["may_include"]}
        if rules["included_by"] != expected:
            problems.append(f"{rules['readme']} says 'Included by: "
                            f"{', '.join(sorted(rules['included_by']))}', but the folders "
                            f"that may include it are: {', '.join(sorted(expected))}")


def read_tested_elsewhere(readme):
    """{"poller_epoll.cpp": ["ioloop_test.cpp"], ...} from the README's line."""
    entries = {}
    for line in readme.read_text().splitlines():
        if not line.startswith("Tested elsewhere:"):
            continue
        # A remark in parentheses is for the reader.
        text = re.sub(r"\s*\([^)]*\)", "", line[len("Tested elsewhere:"):]).strip().rstrip(".")
        if text == "none":
            return entries
        for entry in text.split(";"):
            source, _, tests = entry.replace("`", "").partition(" in ")
            entries[source.strip()] = [t.strip() for t in tests.replace(" and ", ",").split(",")
                                       if t.strip()]
        return entries
    sys.exit(f"check_layers: {readme.relative_to(ROOT)} has no 'Tested elsewhere:' line")


def check_test_names(layers, problems):
    """final/src's files (an add-on's tests are its own: tests/final/ADDON_*)."""
    count = 0
    for layer in (name for name, rules in layers.items() if not rules["addon"]):
        readme = SRC / layer / "README.md"
        elsewhere = read_tested_elsewhere(readme)
        where = readme.relative_to(ROOT)
        for path in sorted((SRC / layer).glob("*.cpp")):
            count += 1
            own = TESTS / f"{path.stem}_test.cpp"
            if own.exists():
                if path.name in elsewhere:
                    problems.append(f"{where} lists {path.name} under 'Tested elsewhere', "
                                    f"but it has {own.relative_to(ROOT)}")
            elif path.name not in elsewhere:
                problems.append(f"{path.relative_to(ROOT)} has no {own.relative_to(ROOT)}: "
                                f"write it, or say where its tests are on the 'Tested "
                                f"elsewhere' line of {where}")
        for source, tests in elsewhere.items():
            if not (SRC / layer / source).exists():
                problems.append(f"{where} lists {source} under 'Tested elsewhere', "
                                "but there is no such file")
            for test in tests:
                if not (TESTS / test).exists():
                    problems.append(f"{where}: {source}'s tests are said to be in "
                                    f"tests/final/{test}, which does not exist")
    return count


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=ROOT, help="the checkout to check (default: this one)")
    set_root(parser.parse_args(argv).root)
    layers = read_layers()
    if not layers:
        sys.exit("check_layers: no final/src/*/README.md found")
    problems = []
    owner = layer_of_header(layers, problems)
    count = check_includes(layers, owner, problems)
    check_inverse(layers, problems)
    examples = check_examples(layers, problems)
    sources = check_test_names(layers, problems)
    for problem in problems:
        print(problem)
    if problems:
        print(f"layers: {len(problems)} problem(s)")
        return 1
    addons = [name for name, rules in layers.items() if rules["addon"]]
    print(f"layers: {count} includes between final/'s {len(layers) - len(addons)} layers "
          f"({', '.join(name for name in layers if name not in addons)}) and its "
          f"{len(addons)} add-ons ({', '.join(addons)}) all go downwards; the examples' "
          f"{examples} includes name public headers only; the tests of all {sources} source "
          "files are found by name or listed")
    return 0


set_root(ROOT)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
