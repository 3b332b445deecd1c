#!/usr/bin/env python3
"""Checks that the course's Markdown names only what exists (the test course.docs).

Every tracked *.md file is read, and three kinds of name are checked:

  - `make TARGET`: TARGET must be a target of the top Makefile;
  - a repository path, in a Markdown link ([text](path)) or in backticks
    (`final/src/web/web.cpp`): it must exist, relative to the repository's
    root or to the Markdown file's folder (a path under `tornado/` is
    looked for in final/include/ too, as an #include names it);
  - `tornado::NAME` (and `tornado::NAME::MORE`): NAME must be declared in
    a header of final/include/tornado/;
  - in an exercise's README and hints (exercises/NN-slug/), a file named
    without a folder (`pg.h`) must be in that exercise's folder: the
    learner reads it there, so a file that lives elsewhere (a chapter's
    header the exercise does not copy) is named by its path.

What the build or a run makes (build/, build-*/, /tmp, /proc...), URLs,
placeholders (NN, N, PATH, X, ...) and globs are not paths to check. Each
problem is printed as FILE:LINE: what is wrong; exits 1 if there is one.
Standard library only.
"""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The headers tornado:: names are declared in: the library's and its
# add-ons' (final/redis/include/tornado/redis.h, final/postgres/...).
HEADER_GLOB = "final/**/include/tornado/*.h"

# `make TARGET` in backticks, or a command line of a fenced block.
MAKE_RE = re.compile(r"^\s*(?:\$ )?make ([a-z][a-z0-9-]*)")
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
CODE_RE = re.compile(r"`([^`\s]+)`")
CODE_SPAN_RE = re.compile(r"`([^`]+)`")
TORNADO_RE = re.compile(r"\btornado::([A-Za-z_][A-Za-z0-9_]*)")

# Made by a build or a run, or outside the repository: not checked. img/
# is the slides' rendered diagrams (build/slides/img/), raw/ a benchmark's
# output folder.
GENERATED = ("build/", "build-", "/", "~", "http:", "https:", "ws:", "wss:", "mailto:", "#",
             "node_modules/", "img/", "raw/")
# What says a path is a pattern, not a file.
PLACEHOLDER_RE = re.compile(r"(\*|\.\.|\{|\}|<|>|\$|NN|\bN\b|PATH|NAME|LAYER|SLUG|"
                            r"FILE|DIR|\bX\b|\bXX\b|%)")
# What a path in backticks looks like: folders and a file with an extension
# we keep, or a folder ending in '/'.
# A file of ours named without a folder, in backticks: `pg.h`,
# `socket_test.cpp` (not Python Tornado's `kqueue.py`).
BARE_FILE_RE = re.compile(r"^[A-Za-z0-9_.-]+\.(h|cpp|txt|md)$")
PATH_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*(\.(md|h|cpp|inc|py|mjs|js|txt|cmake|sh|"
                     r"html|css|json|conf|in|csv|mo|po|yml|toml)|/)$")


def tracked_markdown():
    """The *.md files git tracks; without git (an unpacked archive), every
    *.md outside the build folders."""
    try:
        files = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.split()
        return [ROOT / name for name in files]
    except (OSError, subprocess.CalledProcessError):
        return [path for path in ROOT.rglob("*.md")
                if not path.relative_to(ROOT).parts[0].startswith(("build", "node_modules", "."))]


def make_targets():
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([a-z][a-z0-9-]*):", line)
        if match:
            targets.add(match.group(1))
    return targets


def declared_names():
    text = "\n".join(path.read_text() for path in ROOT.glob(HEADER_GLOB))
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def path_exists(markdown, path):
    """Relative to the root, to the Markdown file's folder or one above it
    (final/src/template/README.md names web/locale.cpp), or to a folder
    just below it (final/README.md names hello/ of examples/)."""
    path = path.split("#", 1)[0].rstrip(":.,")
    if not path:
        return True
    if "/." in path:  # "socket.h/.cpp": both files
        stem, _, extension = path.rpartition("/.")
        base = stem.rsplit(".", 1)[0]
        return path_exists(markdown, stem) and path_exists(markdown, f"{base}.{extension}")
    folders = [ROOT, *[folder for folder in [markdown.parent, *markdown.parent.parents]
                       if ROOT in [folder, *folder.parents]]]
    folders += [child for child in markdown.parent.iterdir() if child.is_dir()]
    if path.startswith("tornado/"):  # the framework's headers, or an add-on's
        folders += [include.parent.parent for include in ROOT.glob(HEADER_GLOB)]
    return any((folder / path).exists() for folder in folders)


def looks_like_path(text):
    if text.startswith(GENERATED) or PLACEHOLDER_RE.search(text) or len(text) <= 2:
        return False
    # Python Tornado's own files (tornado/web.py, tornado/platform/).
    if text.startswith("tornado/") and not text.endswith(".h"):
        return False
    return "/" in text and PATH_RE.match(text) is not None


def exercise_folder(markdown):
    """exercises/NN-slug/ for a Markdown file in it or in its hints/,
    else None."""
    parts = markdown.relative_to(ROOT).parts
    if len(parts) >= 3 and parts[0] == "exercises":
        return ROOT / parts[0] / parts[1]
    return None


def check_file(markdown, targets, names, problems):
    exercise = exercise_folder(markdown)
    in_fence = False
    for number, line in enumerate(markdown.read_text().splitlines(), 1):
        where = f"{markdown.relative_to(ROOT)}:{number}"
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        commands = [line] if in_fence else CODE_SPAN_RE.findall(line)
        for command in commands:
            match = MAKE_RE.match(command)
            if match and match.group(1) not in targets:
                problems.append(f"{where}: 'make {match.group(1)}': the Makefile has no "
                                "such target")
        for name in TORNADO_RE.findall(line):
            if name not in names:
                problems.append(f"{where}: tornado::{name} is declared in no header of "
                                "final/include/tornado/")
        if in_fence:
            continue  # commands and output: their paths may be made by the build
        links = LINK_RE.findall(line)
        if exercise:
            for name in CODE_RE.findall(line):
                if BARE_FILE_RE.match(name) and not (exercise / name).exists() \
                        and not (markdown.parent / name).exists():
                    problems.append(f"{where}: {name} is not in {exercise.relative_to(ROOT)}/: "
                                    "name it by its path")
        code = [text for text in CODE_RE.findall(line) if looks_like_path(text)]
        for path in links + code:
            if path.startswith(GENERATED) or PLACEHOLDER_RE.search(path):
                continue
            if path.startswith("tornado/") and not path.endswith(".h"):
                continue
            if not path_exists(markdown, path):
                problems.append(f"{where}: {path} does not exist")


def main():
    targets = make_targets()
    names = declared_names()
    problems = []
    files = tracked_markdown()
    for markdown in files:
        check_file(markdown, targets, names, problems)
    for problem in problems:
        print(problem)
    if problems:
        print(f"docs: {len(problems)} problem(s) in {len(files)} Markdown files")
        return 1
    print(f"docs: {len(files)} Markdown files name only make targets, paths and "
          "tornado:: names that exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
