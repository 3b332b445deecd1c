#!/usr/bin/env python3
"""Prove that each task's tests catch the mistakes a learner is likely to make.

    make mutants CH=03            every mutant of chapter 03
    make mutants CH=03 TASK=2     task 2's mutants only
    make mutants                  every chapter (long: a build per mutant)
    tools/mutants.py --check      only check that every mutant still applies

A mutant is one plausible wrong answer, written as a small edit of the
reference code: a `write_all` that gives up when `send()` takes nothing, a
timer heap that never forgets a cancelled timeout. tests/mutants/chNN.txt
lists them, each under the task whose tests must catch it:

    === task 1: write_all gives up when send() takes nothing
    # a comment may follow the header line
    file chapters/01-blocking-server/socket.cpp
    --- find
            if (sent == 0) continue;
    --- replace
            if (sent == 0) return;

A find or replace block runs to the next `===` or `---` line, and every
line in it is code, `#` lines included (they may be `#include`s): put
comments between the header and the first block, never after a block.

For each mutant this script edits a private copy of the sources (never your
working tree), rebuilds chNN_tests, and runs the task's suites (TaskN_*).
The mutant must make at least one of them fail (or crash, or time out): a
mutant that passes has *survived*, which means a learner could make that
mistake and get a PASS. The script exits non-zero if any survived. The copy
is built with AddressSanitizer and UndefinedBehaviorSanitizer, as `make
grade` builds a learner's code: a mutant that reads freed memory is caught
by the sanitizer's report, as the learner's mistake would be.

Adding a mutant: write the mistake as you expect a learner to make it, run
`make mutants CH=NN TASK=N`, and if it survives, add the test that catches
it under that task. Many candidates at once: write them in a file of the
same form anywhere and run `tools/mutants.py --catalogue FILE`; keep the
ones that survived, once a test catches them, in tests/mutants/chNN.txt.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grade  # noqa: E402  (one reading of a test program's output, for both)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOGUES = os.path.join(ROOT, "tests", "mutants")
TEST_TIMEOUT_SECONDS = 90
SANITIZERS = "address,undefined"


class Mutant:
    def __init__(self, chapter, task, title, where):
        self.chapter = chapter
        self.task = task
        self.title = title
        self.where = where  # "chNN.txt:line", for messages
        self.path = None
        self.find = None
        self.replace = None

    def __str__(self):
        return f"ch{self.chapter} task {self.task}: {self.title}"


def parse_catalogue(path, chapter=None):
    """The mutants of one tests/mutants/chNN.txt, in file order (of
    `chapter` for a file named otherwise)."""
    named = re.search(r"ch(\d\d)[^/]*\.txt$", path)
    chapter = chapter or (named and named.group(1))
    if not chapter:
        sys.exit(f"mutants: {path}: name it chNN....txt, or say --chapter NN")
    mutants, block, mutant = [], None, None
    name = os.path.basename(path)

    def close_block():
        if mutant is not None and block is not None:
            setattr(mutant, block[0], "\n".join(block[1]))

    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f.read().split("\n"), start=1):
            header = re.match(r"^=== task (\d+): (.+)$", line)
            if header:
                close_block()
                block = None
                mutant = Mutant(chapter, int(header.group(1)), header.group(2).strip(),
                                f"{name}:{number}")
                mutants.append(mutant)
            elif line.startswith("--- "):
                close_block()
                kind = line[4:].strip()
                if kind not in ("find", "replace") or mutant is None:
                    sys.exit(f"mutants: {name}:{number}: expected '--- find' or '--- replace'")
                if getattr(mutant, kind) is not None:
                    sys.exit(f"mutants: {name}:{number}: a second '--- {kind}': a mutant is one "
                             "find and one replace (make the block span both places)")
                block = (kind, [])
            elif block is not None:
                block[1].append(line)
            elif line.startswith("file ") and mutant is not None:
                mutant.path = line[5:].strip()
            elif line.strip() and not line.startswith("#"):
                sys.exit(f"mutants: {name}:{number}: unexpected line: {line!r}")
    close_block()
    for m in mutants:
        # A block ends at the next header; blank lines before it are layout.
        m.find = (m.find or "").rstrip("\n")
        m.replace = (m.replace or "").rstrip("\n")
        if not m.path or not m.find:
            sys.exit(f"mutants: {m.where}: a mutant needs a 'file' line and a '--- find' block")
    return mutants


def load_mutants(chapter=None, task=None, catalogue=None):
    pattern = f"ch{chapter}.txt" if chapter else "ch*.txt"
    paths = [catalogue] if catalogue else sorted(glob.glob(os.path.join(CATALOGUES, pattern)))
    mutants = []
    for path in paths:
        mutants += parse_catalogue(path, chapter if catalogue else None)
    if chapter and not mutants:
        sys.exit(f"mutants: no mutants for chapter {chapter} in tests/mutants/")
    if task is not None:
        mutants = [m for m in mutants if m.task == task]
    return mutants


def apply(mutant, source_root):
    """The file's text with the mutant in it; exits if the catalogue is stale."""
    path = os.path.join(source_root, mutant.path)
    if not os.path.exists(path):
        sys.exit(f"mutants: {mutant.where}: no file {mutant.path}")
    with open(path, encoding="utf-8") as f:
        original = f.read()
    count = original.count(mutant.find)
    if count != 1:
        where = "not found" if count == 0 else f"found {count} times"
        sys.exit(f"mutants: {mutant.where}: the '--- find' text is {where} in {mutant.path} "
                 "(the code changed: update the mutant)")
    return original, original.replace(mutant.find, mutant.replace)


def copy_sources(destination):
    """The working tree's files (tracked and new, not ignored) under
    destination, and nothing else: a file the working tree no longer has
    (a folder renamed) goes from the copy too."""
    listing = subprocess.run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout.split("\n")
    wanted = {relative for relative in listing if relative and os.path.isfile(os.path.join(ROOT, relative))}
    for folder, _, names in os.walk(destination):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.relpath(path, destination) not in wanted:
                os.remove(path)
    for relative in filter(None, listing):
        source = os.path.join(ROOT, relative)
        if not os.path.isfile(source):
            continue  # deleted but not yet committed
        target = os.path.join(destination, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target) or open(source, "rb").read() != open(target, "rb").read():
            # copy, not copy2: the copy must look newer than its last build,
            # or make keeps an object file built from the old text.
            shutil.copy(source, target)


def build(build_dir, target):
    result = subprocess.run(["cmake", "--build", build_dir, "-j", str(os.cpu_count() or 2),
                             "--target", target], capture_output=True, text=True, errors="replace")
    return result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def task_fails(binary, task):
    """True if the task's tests fail (or crash, or hang); and a short reason:
    the tests that failed, or the one a crash or a timeout stopped in and
    the sanitizer's verdict (grade.py reads the output the same way)."""
    result = grade.run_task(binary, task, timeout=TEST_TIMEOUT_SECONDS)
    if result.passed:
        return False, "every test passed"
    if result.stopped_in:
        verdict = f": {result.sanitizer[0]}" if result.sanitizer else ""
        return True, f"{result.detail} in {result.stopped_in}{verdict}"
    if result.failures:
        return True, "failed " + ", ".join(sorted(test for test, _ in result.failures)[:3])
    return True, result.detail


def check_only(mutants):
    for mutant in mutants:
        apply(mutant, ROOT)
    print(f"mutants: all {len(mutants)} mutants apply to the current code")


def run(mutants, work):
    source_root = os.path.join(work, "src")
    build_dir = os.path.join(work, "build")
    copy_sources(source_root)
    # With AddressSanitizer and UndefinedBehaviorSanitizer, as make grade
    # builds a learner's code: a lifetime mistake is then a crash with a
    # report, not a freed object that still holds its old bytes. (Given
    # each time: a work folder configured before it had none.)
    configured = subprocess.run(["cmake", "-S", source_root, "-B", build_dir,
                                 "-DCMAKE_BUILD_TYPE=RelWithDebInfo", f"-DSANITIZE={SANITIZERS}",
                                 "-DCMAKE_CXX_FLAGS="],
                                capture_output=True, text=True, errors="replace")
    if configured.returncode != 0:
        sys.exit(f"mutants: cmake failed:\n{configured.stdout}{configured.stderr}")
    survivors, broken = [], []
    for chapter in sorted({m.chapter for m in mutants}):
        target = f"ch{chapter}_tests"
        binary = os.path.join(build_dir, "bin", target)
        print(f"ch{chapter}: building {target} from the unchanged sources ...", flush=True)
        ok, log = build(build_dir, target)
        if not ok:
            sys.exit(f"mutants: {target} does not build unchanged:\n{log}")
        for mutant in (m for m in mutants if m.chapter == chapter):
            original, mutated = apply(mutant, source_root)
            path = os.path.join(source_root, mutant.path)
            started = time.monotonic()
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(mutated)
                ok, log = build(build_dir, target)
                if ok:
                    caught, reason = task_fails(binary, mutant.task)
                else:
                    caught, reason = None, "does not compile"
            finally:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original)
            seconds = time.monotonic() - started
            verdict = {True: "caught", False: "SURVIVED", None: "BROKEN"}[caught]
            print(f"  {verdict:8} {mutant}  ({reason}; {seconds:.0f} s)", flush=True)
            if caught is False:
                survivors.append(mutant)
            elif caught is None:
                broken.append((mutant, log))
    for mutant, log in broken:
        print(f"\n{mutant.where}: the mutant does not compile; a mutant must be a wrong answer "
              f"that builds:\n{log[-1500:]}")
    print(f"\nmutants: {len(mutants)} run, {len(mutants) - len(survivors) - len(broken)} caught, "
          f"{len(survivors)} survived, {len(broken)} broken")
    return 0 if not survivors and not broken else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapter", help="NN: only this chapter's mutants")
    parser.add_argument("--task", type=int, help="only this task's mutants")
    parser.add_argument("--check", action="store_true",
                        help="only check that every mutant applies (no build)")
    parser.add_argument("--work-dir", default=os.path.join(ROOT, "build", "mutants"),
                        help="where the private copy and its build live")
    parser.add_argument("--catalogue", help="candidates in a file of tests/mutants/'s form "
                                            "(named chNN...txt, or with --chapter)")
    args = parser.parse_args()
    mutants = load_mutants(args.chapter, args.task, args.catalogue)
    if not mutants:
        sys.exit("mutants: nothing to run")
    if args.check:
        check_only(mutants)
        return 0
    return run(mutants, args.work_dir)


if __name__ == "__main__":
    sys.exit(main())
