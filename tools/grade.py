#!/usr/bin/env python3
"""Grade an exercise: run each task's tests and print a score.

    make grade CH=03            every task of chapter 03
    make grade CH=03 TASK=2     task 2 alone
    make hint CH=03 TASK=2      the first step of the hint for task 2
    make hint CH=03 TASK=2 STEP=2   the steps up to the second

Each task of exercises/NN-slug/ is a line of its tasks.txt ("2  title");
the GoogleTest suites named Task2_* in tests/NN-slug/ grade it. A task
passes when its tests ran, at least one of them, and all passed within the
time limit; a crash or a hang is a FAIL, never a stuck grader.

--expect-fail inverts the verdict (exit 0 only if every task fails): `make
test` uses it to prove that the exercises as committed fail their tests.

Chapter 09, the capstone, is graded from outside instead: its program
(the learner's exercises/09-capstone/main.cpp and chat.cpp) is built on
the learner's stack, exercises 03 to 08 (ch09_capstone), or with
--stack chapters (make grade CH=09 STACK=chapters) on the chapters' code
(ch09_capstone_on_chapters), and tests/09-capstone/driver.py drives it
as a client would. Task N is the driver's part N. Its extension (a task
whose title starts with "extension") is graded only with --ext (make
grade CH=09 EXT=1): without it the score is out of the other tasks.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK_TIMEOUT_SECONDS = 120

CAPSTONE_CHAPTER = "09"
CAPSTONE_DRIVER = os.path.join(ROOT, "tests", "09-capstone", "driver.py")
# The driver bounds each of its waits; this bounds the whole run.
CAPSTONE_TIMEOUT_SECONDS = 300
# The program `make grade CH=09 STACK=...` builds (tests/09-capstone/CMakeLists.txt).
CAPSTONE_TARGETS = {"exercises": "ch09_capstone", "chapters": "ch09_capstone_on_chapters"}
CAPSTONE_STACKS = {"exercises": "your exercises 03 to 08", "chapters": "the chapters' code"}


def chapter_folder(number):
    matches = glob.glob(os.path.join(ROOT, "exercises", f"{number}-*"))
    if not matches:
        sys.exit(f"grade: no exercise for chapter {number} (looked for exercises/{number}-*)")
    return matches[0]


def read_tasks(folder):
    """[(number, title)] from tasks.txt: "N  title" lines; '#' starts a comment."""
    tasks = []
    with open(os.path.join(folder, "tasks.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            number, title = line.split(maxsplit=1)
            tasks.append((int(number), title))
    return tasks


def run_task(binary, task):
    """(passed, detail) for one task's tests."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        command = [binary, f"--gtest_filter=Task{task}_*", f"--gtest_output=json:{report}"]
        try:
            result = subprocess.run(command, capture_output=True, text=True,
                                    timeout=TASK_TIMEOUT_SECONDS, errors="replace")
        except subprocess.TimeoutExpired:
            return False, f"timed out after {TASK_TIMEOUT_SECONDS} s", ""
        except OSError as error:
            return False, f"could not run the tests: {error}", ""
        output = result.stdout + result.stderr
        if not os.path.exists(report):
            return False, f"the tests crashed (exit {result.returncode})", output
        with open(report, encoding="utf-8") as f:
            summary = json.load(f)
    ran, failed = summary.get("tests", 0), summary.get("failures", 0)
    if ran == 0:
        return False, "no test grades this task", output
    if result.returncode != 0 or failed:
        return False, f"{failed or '?'} of {ran} tests failed", output
    return True, f"{ran} tests", output


def failure_excerpt(output, lines=8):
    """The first lines that explain a failure, each once, for the learner."""
    keep = []
    for l in output.splitlines():
        interesting = ("Failure" in l or "error" in l.lower() or "Expected" in l
                       or "Which is" in l or "TODO" in l or "Value of" in l or "Actual" in l
                       or l.startswith("[  FAILED  ]"))
        if interesting and l != "unknown file: Failure" and l not in keep:
            keep.append(l)
    return keep[:lines]


def print_hint(text, chapter, task, step):
    """A hint file is a title, then "## Step 1", "## Step 2", ...: each step
    says more than the one before. Print the steps up to `step` and say how
    to get the next, so that a learner takes only as much help as needed."""
    parts = re.split(r"(?m)^(?=## Step \d+)", text)
    title, steps = parts[0], parts[1:]
    if not steps:  # a hint without steps is printed whole
        print(text)
        return
    shown = steps[:max(1, step)]
    print(title + "".join(shown).rstrip())
    if len(shown) < len(steps):
        print(f"\n(step {len(shown)} of {len(steps)}; more: "
              f"make hint CH={chapter} TASK={task} STEP={len(shown) + 1})")


def build(build_dir, target):
    """(compiled, lines worth showing): the build runs quietly; what the
    learner needs from it is the errors, and the warnings about their files."""
    command = ["cmake", "--build", build_dir, "--target", target]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    output = (result.stdout + result.stderr).splitlines()
    if result.returncode != 0:
        shown = [l for l in output if "error" in l.lower()] or output[-30:]
        return False, shown[:40]
    warnings = [l for l in output if "warning:" in l and "exercises/" in l]
    return True, warnings[:20]


def report(tasks, outcome, expect_fail, advice):
    """Prints a line per task and the score; returns the exit status.
    outcome: {task: (passed, detail)}; advice is printed when short."""
    width = max(len(title) for _, title in tasks)
    for task, title in tasks:
        ok, detail = outcome[task]
        print(f"task {task}  {title:<{width}}  {'PASS' if ok else 'FAIL'}  ({detail})")
    passed = sum(ok for ok, _ in outcome.values())
    print(f"score: {passed}/{len(tasks)}")

    if expect_fail:
        if passed:
            print("expected every task to FAIL as committed: a task that passes "
                  "before the learner writes anything grades nothing")
        return 0 if passed == 0 else 1
    if passed < len(tasks) and advice:
        print(advice)
    return 0 if passed == len(tasks) else 1


def capstone_tasks(args, number, tasks):
    """The capstone's tasks to grade: its extension only with --ext."""
    if args.ext:
        return tasks
    graded = [t for t in tasks if not t[1].startswith("extension")]
    if not graded:  # --task N named the extension
        sys.exit(f"grade: task {tasks[0][0]} of chapter {number} is the extension, graded with "
                 f"EXT=1: make grade CH={number} TASK={tasks[0][0]} EXT=1")
    return graded


def run_capstone_driver(server, tasks):
    """{task: (passed, detail)} from the driver's parts; its report streams
    to the terminal meanwhile, one line per case."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        command = [sys.executable, CAPSTONE_DRIVER, "--server", server, "--json", report]
        for task, _ in tasks:
            command += ["--part", str(task)]
        try:
            result = subprocess.run(command, timeout=CAPSTONE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return {task: (False, f"the driver timed out after {CAPSTONE_TIMEOUT_SECONDS} s")
                    for task, _ in tasks}
        if not os.path.exists(report):
            return {task: (False, f"the driver stopped (exit {result.returncode})")
                    for task, _ in tasks}
        with open(report, encoding="utf-8") as f:
            parts = {part["number"]: part for part in json.load(f)["parts"]}
    outcome = {}
    for task, _ in tasks:
        part = parts.get(task)
        if part is None:
            outcome[task] = (False, "the driver has no such part")
        else:
            outcome[task] = (part["passed"], f"{part['cases_passed']}/{part['cases']} cases")
    return outcome


def grade_capstone(args, number, folder, tasks):
    """Chapter 09: build the learner's chat server, let the driver grade it."""
    target = CAPSTONE_TARGETS[args.stack]
    server = args.binary or os.path.join(args.build_dir, "bin", target)
    built = True
    if args.build:
        print(f"building {os.path.relpath(folder, ROOT)} on {CAPSTONE_STACKS[args.stack]} "
              f"({target} in {args.build_dir}) ...", flush=True)
        built, lines = build(args.build_dir, target)
        if not built and any("unknown target" in line for line in lines):
            # A build folder configured before tests/09-capstone/ existed
            # (CMake finds the tests' folders when it configures): again.
            subprocess.run(["cmake", "-S", ROOT, "-B", args.build_dir], capture_output=True)
            built, lines = build(args.build_dir, target)
        for line in lines:
            print(f"    {line}")
        if not built:
            print("the chat does not compile (errors above): every task FAILs")
    if built:
        print(f"driving {os.path.relpath(server, ROOT)} with "
              f"{os.path.relpath(CAPSTONE_DRIVER, ROOT)} ...", flush=True)
        outcome = run_capstone_driver(server, tasks)
    else:
        outcome = {task: (False, "does not compile") for task, _ in tasks}
    print()
    advice = f"hint: make hint CH={number} TASK=N"
    if args.stack == "exercises":
        advice += ("    on the chapters' code instead of your exercises: "
                   f"make grade CH={number} STACK=chapters")
    return report(tasks, outcome, args.expect_fail, advice)


def main():
    parser = argparse.ArgumentParser(description="Grade an exercise.")
    parser.add_argument("--chapter", required=True, help="two digits, e.g. 03")
    parser.add_argument("--task", type=int, help="grade this task alone")
    parser.add_argument("--binary", help="test program (default: the exercise tests)")
    parser.add_argument("--build", action="store_true", help="build the exercise first")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"),
                        help="the CMake build folder (default: build/)")
    parser.add_argument("--expect-fail", action="store_true",
                        help="succeed only if every task fails (the committed exercise)")
    parser.add_argument("--hint", type=int, metavar="TASK", help="print the hint for TASK")
    parser.add_argument("--step", type=int, default=1,
                        help="with --hint: print the hint's steps up to this one")
    parser.add_argument("--verbose", action="store_true", help="print the full test output")
    parser.add_argument("--stack", choices=sorted(CAPSTONE_TARGETS),
                        help=f"chapter {CAPSTONE_CHAPTER}: build the chat on the learner's "
                             "exercises 03-08 (the default) or on the chapters' code")
    parser.add_argument("--ext", action="store_true",
                        help=f"chapter {CAPSTONE_CHAPTER}: grade its extension too (part 5, "
                             "which needs redis-server)")
    args = parser.parse_args()

    number = args.chapter.zfill(2)
    folder = chapter_folder(number)
    tasks = read_tasks(folder)

    if args.hint is not None:
        hint = os.path.join(folder, "hints", f"task{args.hint}.md")
        if not os.path.exists(hint):
            sys.exit(f"grade: no hint for task {args.hint} ({os.path.relpath(hint, ROOT)})")
        with open(hint, encoding="utf-8") as f:
            print_hint(f.read(), number, args.hint, args.step)
        return 0

    if args.task is not None:
        tasks = [t for t in tasks if t[0] == args.task]
        if not tasks:
            sys.exit(f"grade: chapter {number} has no task {args.task}")

    if number == CAPSTONE_CHAPTER:
        args.stack = args.stack or "exercises"
        return grade_capstone(args, number, folder, capstone_tasks(args, number, tasks))
    if args.stack or args.ext:
        sys.exit(f"grade: STACK= and EXT= are for the capstone, chapter {CAPSTONE_CHAPTER}, only")

    # One task alone builds and runs that task's own program, which holds
    # only the test files of its suites (cmake/Course.cmake): a change to
    # an exercise's header then recompiles a file or two, not the chapter.
    program = f"ch{number}_exercise_tests"
    if args.task is not None:
        program = f"ch{number}_exercise_task{args.task}_tests"
    binary = args.binary or os.path.join(args.build_dir, "bin", program)
    built = True
    if args.build:
        target = program
        print(f"building {os.path.relpath(folder, ROOT)} ({target} in {args.build_dir}) ...", flush=True)
        built, lines = build(args.build_dir, target)
        for line in lines:
            print(f"    {line}")
        if not built:
            print("the exercise does not compile (errors above): every task FAILs")

    results = []
    for task, title in tasks:
        if built and not args.expect_fail:
            print(f"running task {task}'s tests ...", flush=True)
        if built:
            ok, detail, output = run_task(binary, task)
        else:
            ok, detail, output = False, "does not compile", ""
        results.append((task, title, ok, detail, output))

    # Why tasks failed comes first, so that the table and the score are
    # the last thing on the learner's screen.
    if not args.expect_fail:
        for task, title, ok, detail, output in results:
            shown = output.splitlines() if args.verbose else failure_excerpt(output)
            if ok or not shown:
                continue
            print(f"task {task} ({title}):")
            for line in shown:
                print(f"    {line}")
        print()

    outcome = {task: (ok, detail) for task, _, ok, detail, _ in results}
    advice = None
    if not args.task:
        advice = (f"hint: make hint CH={number} TASK=N    all of a task's test output: "
                  f"{os.path.relpath(binary)} --gtest_filter='TaskN_*'")
    return report(tasks, outcome, args.expect_fail, advice)


if __name__ == "__main__":
    sys.exit(main())
