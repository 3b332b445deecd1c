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

The learner's code and the tests are built with AddressSanitizer and
UndefinedBehaviorSanitizer (cmake/Course.cmake, course_grade_options): a
read of freed memory, a double free, a use of a local after its function
returned (ASAN_OPTIONS detect_stack_use_after_return=1, set here) or
undefined behaviour stops the task's tests with a report, and the task
FAILs. Above the table, each failing
task shows its failing tests, each with its own messages and what the
program logged while it ran (an exception in a callback, a "TODO(task
N)"); after a crash or a timeout, the test it happened in; after a
timeout, where each thread was (gdb attached before the program is
stopped: the first frames in the learner's files); the sanitizer's
verdict with the first frames in the learner's files; and the command
that runs one test alone. One test that runs over TEST_TIMEOUT_SECONDS
is stuck: the program is stopped then, not at the task's limit. When
tests failed, "N of M tests failed" is the verdict, and a sanitizer's
report at exit is added beside it, never in its place: a test that hung
leaves coroutine frames alive, and LeakSanitizer reports them at exit,
but the hang is the news. Control bytes in a message (a CR in a test's
input) are shown escaped.

Once every task passes, the chapter's other tests (suites not named
TaskN_*: the server's limits, a client built on the learner's Futures)
run on the learner's code too, as one more line of the table: a mistake
that they see and the tasks' tests miss is shown, and make grade exits
non-zero ("score: 5/5, but ...").

The build compiles the files as they are on disk when the tests start: a
file saved while the build was compiling it is built again (build_as_saved).

--expect-fail inverts the verdict (exit 0 only if every task fails): `make
test` uses it to prove that the exercises as committed fail their tests.
One failing test is proof enough, so each task stops at its first, and a
stuck test is stopped after 15 s.

Chapter 11, the capstone, is graded from outside instead: its program
(the learner's exercises/11-capstone/main.cpp and chat.cpp) is built on
the learner's stack, exercises 03 to 08 (ch11_capstone), or with
--stack chapters (make grade CH=11 STACK=chapters) on the chapters' code
(ch11_capstone_on_chapters), and tests/11-capstone/driver.py drives it
as a client would. Task N is the driver's part N. Its extension (a task
whose title starts with "extension") is graded only with --ext (make
grade CH=11 EXT=1): without it the score is out of the other tasks.
"""
import argparse
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK_TIMEOUT_SECONDS = 120
# One test that runs this long is stuck: every wait of the course's tests
# is bounded by a few seconds, and the slowest test takes a few seconds
# under the sanitizers. Stopping it here, not at the task's limit, halves
# what a hang costs; and before the program is stopped, its threads'
# stacks are taken (stuck_stacks), so that the report says where it hung.
TEST_TIMEOUT_SECONDS = 60
# For --expect-fail (CTest's check that each task of the committed exercise
# fails), a stuck test is the expected end and nobody reads where it hung:
# it is stopped sooner, with no stacks taken. Still several times the
# slowest passing test, so a cut that passes cannot be taken for stuck.
EXPECTED_FAIL_TEST_TIMEOUT_SECONDS = 15

# A callback that holds a reference to a local of a function that has
# returned is the commonest lifetime mistake of callback code; AddressSanitizer
# sees it only with detect_stack_use_after_return. And it keeps freed memory
# as it was, so code it cannot see into (libstdc++'s _Rb_tree_increment,
# compiled without it) goes on reading the old bytes: a std::map node erased
# while a range-for over the map stands on it is stepped over, and the loop
# works by luck, under the grader only. max_free_fill_size fills the first
# 4 KiB of freed memory with 0x55: the freed node's links point nowhere,
# and the mistake crashes with a report, as it crashes the demo built
# without the sanitizers. The learner's own ASAN_OPTIONS come after these,
# and win.
ASAN_OPTIONS = "detect_stack_use_after_return=1:max_free_fill_size=4096"

CAPSTONE_CHAPTER = "11"
CAPSTONE_DRIVER = os.path.join(ROOT, "tests", "11-capstone", "driver.py")
# The driver bounds each of its waits; this bounds the whole run.
CAPSTONE_TIMEOUT_SECONDS = 300
# The program `make grade CH=11 STACK=...` builds (tests/11-capstone/CMakeLists.txt).
CAPSTONE_TARGETS = {"exercises": "ch11_capstone", "chapters": "ch11_capstone_on_chapters"}
CAPSTONE_STACKS = {"exercises": "your exercises 03 to 08", "chapters": "the chapters' code"}


def sanitizer_environment():
    """The environment the tests and the capstone's server run in."""
    env = dict(os.environ)
    own = env.get("ASAN_OPTIONS")
    env["ASAN_OPTIONS"] = ASAN_OPTIONS + (f":{own}" if own else "")
    return env


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


# How much of each failure the report shows: the tests of one task, and
# the lines of one test's messages. What is left out is counted, and the
# command that runs one test alone shows all of it.
SHOWN_TESTS_PER_TASK = 5
SHOWN_LINES_PER_TEST = 12
# What the program logged during a failing test: its first lines, the
# ones that name a TODO or an exception first.
SHOWN_LOG_LINES_PER_TEST = 4
# "[31/36] Building CXX object ...": one line per step of the build.
NINJA_PROGRESS = re.compile(r"^\[\d+/\d+\] ")
# A sanitizer's report: the line that says what happened, then its stack.
SANITIZER_ERROR = re.compile(r"ERROR: (Address|Leak|Thread)Sanitizer|runtime error:")
# "#3 0x55 in connect /path/pg.cpp:51", or "#1 0x7f  (/lib/libpq.so.5+0xdbc0)"
# for a library built without symbols.
STACK_FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ +(?:in )?(.*)$")
RUN_LINE = re.compile(r"^\[ RUN      \] (\S+)")
DONE_LINE = re.compile(r"^\[ +(OK|FAILED|SKIPPED) +\] (\S+)")
# GoogleTest's own lines: its markers, and the place line of a failure.
GTEST_LINE = re.compile(r"^\[[ =A-Z-]+\]|^(unknown file|\S+:\d+): (Failure|Skipped)$")
# Frames that say nothing to a learner: the sanitizer's own, the standard
# library's, GoogleTest's, the C library's.
FOREIGN_FRAME = re.compile(r"libsanitizer|/usr/include/|/usr/lib/|\.so[.0-9]*\+0x|"
                           r"gtest|googletest|\b_start\b|__libc_start|"
                           r" in (operator new|operator delete|__interceptor_|__asan_|__lsan_|"
                           r"__ubsan_|std::)")
# The lines of a program's log worth showing first.
NEWS_IN_LOG = re.compile(r"TODO\(task|xception|error", re.IGNORECASE)
# The line of '=' a sanitizer's report starts with.
SANITIZER_BANNER = re.compile(r"^=+$")
# gdb's frames: "#3  0x55 in course::X::y (this=0x1) at /path/x.cpp:51", or
# "#0  __GI_epoll_wait (...) at ../sysdeps/x.c:30", or "... from /lib/x.so".
GDB_FRAME = re.compile(r"^#\d+ +(?:0x[0-9a-f]+ in )?(\S+?) ?\(.*?\)(?: at (\S+:\d+))?")
GDB_THREAD = re.compile(r"^Thread (\d+) ")


class TaskResult:
    """What running one task's tests gave.

    passed, detail: the verdict and its few words ("3 of 7 tests failed");
    failures: [(test, [lines])] for each failing test, its messages;
    logs: {test: [lines]} what the program logged while a failing test ran;
    stopped_in: the test that was running when the program crashed or
    timed out, if any; sanitizer: the lines of a sanitizer's report worth
    showing; output: everything the program printed."""

    def __init__(self, passed, detail, output="", failures=(), stopped_in=None, sanitizer=(),
                 logs=None, stuck=()):
        self.passed, self.detail, self.output = passed, detail, output
        self.failures, self.stopped_in, self.sanitizer = list(failures), stopped_in, list(sanitizer)
        self.logs = logs or {}
        # After a timeout: where each thread was, in the learner's terms.
        self.stuck = list(stuck)


def printable(line):
    """A line with its control bytes escaped (a CR as \\r, others as
    \\xNN), tabs kept: a test's input shown as it was sent, not as a
    terminal would draw it."""
    def escape(match):
        byte = ord(match.group(0))
        return {"\r": "\\r", "\n": "\\n"}.get(match.group(0), f"\\x{byte:02x}")
    return re.sub(r"[\x00-\x08\x0a-\x1f\x7f]", escape, line)


def lines_of(text):
    """Lines split at LF alone: splitlines() would also split at a CR, a
    form feed or a \\x1c in a test's input, and lose where it was."""
    return text.split("\n")


def unfinished_test(output):
    """The test that started and never ended: the one a crash or a hang
    stopped in."""
    running = None
    for line in lines_of(output):
        started = RUN_LINE.match(line)
        if started:
            running = started.group(1)
        elif DONE_LINE.match(line) and DONE_LINE.match(line).group(2) == running:
            running = None
    return running


def stack_after(lines, start):
    """The frames of the stack that begins after lines[start], as
    "function file:line", until the first line that is not a frame."""
    frames = []
    for line in lines[start + 1:start + 60]:
        frame = STACK_FRAME.match(line)
        if frame:
            # A function's parameter list says little and takes a line.
            where = re.sub(r"\(.+\)( |$)", r"(...)\1", frame.group(1))
            frames.append(where.replace(ROOT + "/", ""))
        elif frames:
            break
    return frames


def in_learner_files(frames):
    return [f for f in frames if f.split()[-1].startswith("exercises/")]


def worth_showing(frames):
    """The frames in the learner's files; where there is none, the frames
    that are not the sanitizer's, the standard library's or GoogleTest's
    (a test's own line, say); the first frames only if all are."""
    return in_learner_files(frames) or [f for f in frames if not FOREIGN_FRAME.search(" in " + f)] \
        or frames


def sanitizer_report(output):
    """The sanitizer's verdict, the frames of the bad access in the
    learner's files (exercises/; its first frames when none is), and for a
    use after free where the learner's code freed it: where to look,
    without the hundred lines of the whole report."""
    lines = lines_of(output)
    for index, line in enumerate(lines):
        if not SANITIZER_ERROR.search(line):
            continue
        # "==123==ERROR: AddressSanitizer: heap-use-after-free on address
        # 0x6020... at pc ...": the kind of error is what a learner reads.
        verdict = re.sub(r"^==\d+==| on address .*| on unknown address .*", "", line.strip())
        verdict = verdict.replace(ROOT + "/", "")
        if "runtime error:" in line:
            return [verdict]  # UBSan names the place itself
        access = stack_after(lines, index + 1 if index + 1 < len(lines) else index)
        shown = [verdict] + [f"at {f}" for f in worth_showing(access)[:3]]
        for later, text in enumerate(lines[index:index + 200], start=index):
            if text.startswith("freed by thread"):
                freed = in_learner_files(stack_after(lines, later))[:2]
                shown += [f"freed at {f}" for f in freed]
                break
        return shown
    return []


def failures_from_report(summary):
    """[(Suite.Test, [message lines])] of the failed tests in GoogleTest's
    JSON report, in the order they ran."""
    failed = []
    for suite in summary.get("testsuites", []):
        for test in suite.get("testsuite", []):
            messages = [m.get("failure", "") for m in test.get("failures", [])]
            if messages:
                # "unknown file" is GoogleTest's place for an exception: no place.
                lines = [printable(l.replace(ROOT + "/", "")) for m in messages
                         for l in lines_of(m) if l.strip() and l.strip() != "unknown file"]
                failed.append((f"{suite['name']}.{test['name']}", lines))
    return failed


def logs_of_tests(output, tests, report_lines):
    """{test: [lines]}: what the program printed while each of `tests` ran
    that is neither GoogleTest's own nor a line of a failure's message
    (report_lines): what the server under test logged, such as an
    exception a callback threw. The lines that name a TODO or an exception
    come first."""
    logs, running, in_report = {}, None, False
    for line in lines_of(output):
        started = RUN_LINE.match(line)
        if started:
            running = started.group(1) if started.group(1) in tests else None
            in_report = False
            continue
        if DONE_LINE.match(line):
            running = None
            continue
        # A sanitizer's report is shown on its own (sanitizer_report), and
        # its stack frames are no log: one of GoogleTest's
        # (HandleExceptionsInMethodIfSupported) would pass for news.
        if SANITIZER_ERROR.search(line) or SANITIZER_BANNER.match(line):
            in_report = True
        text = printable(line.replace(ROOT + "/", "")).strip()
        if (running and text and not in_report and not GTEST_LINE.match(text)
                and not STACK_FRAME.match(text) and text not in report_lines):
            logs.setdefault(running, []).append(text)
    return {test: sorted(lines, key=lambda l: not NEWS_IN_LOG.search(l))
            for test, lines in logs.items()}


def failures_from_output(output):
    """[(Suite.Test, [lines])] of the tests the output says failed, from
    the text alone: for a program that stopped before it wrote its JSON
    report (a crash after some tests had failed)."""
    failed, running, lines = [], None, []
    for line in lines_of(output):
        started = RUN_LINE.match(line)
        done = DONE_LINE.match(line)
        if started:
            running, lines = started.group(1), []
        elif done and done.group(2) == running:
            if done.group(1) == "FAILED":
                failed.append((running, lines))
            running = None
        elif running and line.strip():
            lines.append(printable(line.replace(ROOT + "/", "")).strip())
    return failed


def lines_in(failures):
    """Every line of the failures' messages: what logs_of_tests leaves out,
    so that a line is not shown twice. Read from the output alone (after a
    crash), a failed test's lines are all it printed, its log included."""
    return {line.strip() for _, lines in failures for line in lines}


def read_report(path):
    """GoogleTest's JSON report, or None when the program wrote none, or
    stopped while writing it (a sanitizer that aborts at exit, after a
    thread left running, leaves it empty)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def stuck_stacks(pid):
    """Where each thread of the running program is, as gdb sees it
    attached: [(thread number, ["function file:line", ...])], frames in
    the learner's files (exercises/) first. [] when gdb is missing or
    cannot attach."""
    try:
        done = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off",
                               "-ex", "thread apply all bt"], capture_output=True, text=True,
                              errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    threads, frames = [], None
    for line in lines_of(done.stdout):
        thread = GDB_THREAD.match(line)
        if thread:
            frames = []
            threads.append((int(thread.group(1)), frames))
            continue
        frame = GDB_FRAME.match(line.strip())
        if frame is not None and frames is not None:
            where = frame.group(2) or ""
            frames.append(f"{frame.group(1)} {where.replace(ROOT + '/', '')}".strip())
    return threads


def stuck_report(threads):
    """The report's lines for stuck_stacks(): each thread with a frame in
    the learner's files, its first three such frames; if none has one, the
    first frames of each thread that are not the C library's."""
    ours = [(n, in_learner_files([f for f in frames if " " in f])) for n, frames in threads]
    ours = [(n, frames) for n, frames in ours if frames]
    if not ours:
        ours = [(n, [f for f in frames if " " in f and not FOREIGN_FRAME.search(" in " + f)])
                for n, frames in threads]
        ours = [(n, frames) for n, frames in ours if frames]
    lines = []
    for number, frames in ours:
        lines.append(f"thread {number}: at {printable(frames[0])}")
        lines += [f"          {printable(f)}" for f in frames[1:3]]
    return lines


def run_watched(command, timeout, stuck_after=TEST_TIMEOUT_SECONDS, take_stacks=True):
    """(exit status, output, why it was stopped or None, stuck stacks): the
    program run with stderr into stdout, stopped (after its stacks are
    taken, if take_stacks) once the whole run passes `timeout` or one test
    passes `stuck_after` seconds."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", env=sanitizer_environment())
    lines, test_started = [], [time.monotonic()]

    def read():
        for line in process.stdout:
            lines.append(line)
            if RUN_LINE.match(line):
                test_started[0] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started, why, stacks = time.monotonic(), None, []
    while process.poll() is None:
        now = time.monotonic()
        if now - started > timeout:
            why = f"timed out after {timeout} s"
        elif now - test_started[0] > stuck_after:
            why = f"one test ran over {stuck_after} s: stuck"
        if why:
            stacks = stuck_stacks(process.pid) if take_stacks else []
            process.kill()
            break
        time.sleep(0.2)
    process.wait()
    reader.join(timeout=10)
    process.stdout.close()
    return process.returncode, "".join(lines), why, stacks


def run_task(binary, task, timeout=TASK_TIMEOUT_SECONDS, suites=None, expect_fail=False):
    """A TaskResult for one task's tests (or for the GoogleTest filter
    `suites`, given instead). With expect_fail, the first failure is
    enough (the rest are not run), and a stuck test is stopped sooner, with
    no stacks taken."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        command = [binary, f"--gtest_filter={suites or f'Task{task}_*'}",
                   f"--gtest_output=json:{report}"]
        if expect_fail:
            command.append("--gtest_fail_fast")
        try:
            # One stream, stderr into stdout: what the program logs then
            # sits between the RUN and FAILED lines of the test it ran in
            # (GoogleTest flushes stdout at each of them; stderr is unbuffered).
            returncode, output, stopped_why, stacks = run_watched(
                command, timeout,
                EXPECTED_FAIL_TEST_TIMEOUT_SECONDS if expect_fail else TEST_TIMEOUT_SECONDS,
                take_stacks=not expect_fail)
        except OSError as error:
            return TaskResult(False, f"could not run the tests: {error}")
        if stopped_why:
            failures = failures_from_output(output)
            return TaskResult(False, stopped_why, output, failures,
                              stopped_in=unfinished_test(output),
                              logs=logs_of_tests(output, {t for t, _ in failures},
                                                 lines_in(failures)),
                              stuck=stuck_report(stacks))
        sanitizer = sanitizer_report(output)
        summary = read_report(report)
        if summary is None:
            stopped = unfinished_test(output)
            failures = failures_from_output(output)
            why = "a sanitizer stopped the tests" if sanitizer else "the tests crashed"
            tests = {t for t, _ in failures} | {stopped}
            return TaskResult(False, f"{why} (exit {returncode})", output, failures,
                              stopped_in=stopped, sanitizer=sanitizer,
                              logs=logs_of_tests(output, tests, lines_in(failures)))
    ran, failed = summary.get("tests", 0), summary.get("failures", 0)
    failures = failures_from_report(summary)
    logs = logs_of_tests(output, {test for test, _ in failures}, lines_in(failures))
    if ran == 0:
        return TaskResult(False, "no test grades this task", output)
    if returncode != 0 or failed or sanitizer:
        # Failed tests are the verdict; a sanitizer's report at exit is
        # added beside them (a hang leaves frames that LeakSanitizer then
        # reports), and is the verdict only when every test passed.
        at_exit = ""
        if sanitizer:
            at_exit = "leaks at exit" if "LeakSanitizer" in sanitizer[0] else "a sanitizer's report at exit"
        if failed:
            detail = f"{failed} of {ran} tests failed" + (f", and {at_exit}" if at_exit else "")
        elif at_exit:
            detail = f"every test passed, but {at_exit}"
        else:
            detail = f"the tests failed (exit {returncode})"
        return TaskResult(False, detail, output, failures, sanitizer=sanitizer, logs=logs)
    # A test that needs a later task skips itself until it is written:
    # said, so that a PASS is not read as "all of it checked".
    skipped = sum(test.get("result") == "SKIPPED" for suite in summary.get("testsuites", [])
                  for test in suite.get("testsuite", []))
    return TaskResult(True, f"{ran} tests" + (f", {skipped} skipped" if skipped else ""), output)


def explain(result, binary):
    """The lines that say why a task failed: each failing test with its own
    messages (first SHOWN_LINES_PER_TEST), the test a crash or a timeout
    stopped in with the sanitizer's words, what was left out, and the
    command that runs one test alone."""
    lines = []
    for test, messages in result.failures[:SHOWN_TESTS_PER_TASK]:
        lines.append(f"{test}:")
        lines += [f"    {m}" for m in messages[:SHOWN_LINES_PER_TEST]]
        if len(messages) > SHOWN_LINES_PER_TEST:
            lines.append(f"    ... {len(messages) - SHOWN_LINES_PER_TEST} more lines")
        lines += logged_during(result.logs.get(test, []))
    if len(result.failures) > SHOWN_TESTS_PER_TASK:
        lines.append(f"... and {len(result.failures) - SHOWN_TESTS_PER_TASK} more failing tests")
    if result.stopped_in:
        lines.append(f"{result.stopped_in}: {result.detail}, in this test")
        if result.stuck:
            lines.append("    where its threads were when it was stopped:")
            lines += [f"        {line}" for line in result.stuck]
        if result.stopped_in not in dict(result.failures):
            lines += logged_during(result.logs.get(result.stopped_in, []))
    if result.sanitizer:
        if not result.stopped_in:
            lines.append("at exit, after the tests:")
        lines += [f"    {printable(l)}" for l in result.sanitizer]
        if result.failures and not result.stopped_in:
            lines.append("    (a test that never finished leaves its coroutines and what they hold "
                         "alive: fix the failures above first)")
    alone = result.stopped_in or (result.failures[0][0] if result.failures else None)
    if alone:
        lines.append(f"one test alone: ASAN_OPTIONS={ASAN_OPTIONS} "
                     f"{os.path.relpath(binary)} --gtest_filter={alone}")
    return lines


def logged_during(log):
    """The report's lines for what the program logged during one test."""
    if not log:
        return []
    shown = [f"    the program logged: {log[0]}"]
    shown += [f"                        {line}" for line in log[1:SHOWN_LOG_LINES_PER_TEST]]
    if len(log) > SHOWN_LOG_LINES_PER_TEST:
        shown.append(f"                        ... {len(log) - SHOWN_LOG_LINES_PER_TEST} more lines")
    return shown


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


def exercise_files(folders):
    """{path: sha256 of its content} of every file under the folders: what
    a build of the exercise reads."""
    contents = {}
    for folder in folders:
        for directory, _, names in os.walk(folder):
            for name in names:
                path = os.path.join(directory, name)
                with open(path, "rb") as f:
                    contents[path] = hashlib.sha256(f.read()).hexdigest()
    return contents


def build_as_saved(build_dir, target, folders, state_name):
    """build(), made sure to compile the files as they are on disk now.

    The build decides what to compile by the files' times: a file saved
    while the compiler was reading it is older than its object, so that
    build and every later one would grade the text it had before. So the
    files' contents are compared before and after each build, and a file
    that changed meanwhile is touched and built again; and the contents a
    build compiled are kept (build/grade-state/), so that a file that
    differs from them at the next grade is touched before it builds."""
    state = os.path.join(build_dir, "grade-state", state_name + ".json")
    compiled = {}
    if os.path.exists(state):
        with open(state, encoding="utf-8") as f:
            compiled = json.load(f)
    for path, digest in exercise_files(folders).items():
        if compiled.get(path, digest) != digest:
            os.utime(path)
    for _ in range(3):
        before = exercise_files(folders)
        built, lines = build(build_dir, target)
        after = exercise_files(folders)
        changed = [path for path in after if before.get(path) != after[path]]
        if not changed:
            break
        print(f"{', '.join(os.path.relpath(p, ROOT) for p in changed)} changed during the build: "
              "building again", flush=True)
        for path in changed:
            os.utime(path)
    os.makedirs(os.path.dirname(state), exist_ok=True)
    with open(state, "w", encoding="utf-8") as f:
        json.dump(before, f)
    return built, lines


def build(build_dir, target):
    """(compiled, lines worth showing): the build runs quietly; what the
    learner needs from it is the errors, and the warnings about their files."""
    command = ["cmake", "--build", build_dir, "--target", target]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    output = (result.stdout + result.stderr).splitlines()
    if result.returncode != 0:
        # Ninja's progress lines name the files it builds: "errors_test.cpp"
        # in one is not an error, and if it were the only line shown, the
        # real reason (a line without "error" in it) would be hidden.
        shown = [l for l in output if "error" in l.lower() and not NINJA_PROGRESS.match(l)]
        return False, (shown or output[-30:])[:40]
    warnings = [l for l in output if "warning:" in l and "exercises/" in l]
    return True, warnings[:20]


# The chapter's tests that grade no task (a suite not named TaskN_*): the
# server's limits, a client on top of the learner's Futures. They run on
# the learner's code too, once every task passes: a mistake they see and
# the task's own tests miss is shown, and make grade exits non-zero.
OTHER_SUITES = "-Task*"
OTHER_TITLE = "the chapter's other tests, on your code"


def report(tasks, outcome, expect_fail, advice, others=None):
    """Prints a line per task and the score; returns the exit status.
    outcome: {task: (passed, detail)}; advice is printed when short;
    others: (passed, detail) of the chapter's other tests, if they ran."""
    width = max([len(title) for _, title in tasks] + ([len(OTHER_TITLE)] if others else []))
    for task, title in tasks:
        ok, detail = outcome[task]
        print(f"task {task}  {title:<{width}}  {'PASS' if ok else 'FAIL'}  ({detail})")
    if others:
        print(f"        {OTHER_TITLE:<{width}}  {'PASS' if others[0] else 'FAIL'}  ({others[1]})")
    passed = sum(ok for ok, _ in outcome.values())
    if others and not others[0]:
        print(f"score: {passed}/{len(tasks)}, but the chapter's other tests fail on your code (above)")
        return 1
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
            result = subprocess.run(command, timeout=CAPSTONE_TIMEOUT_SECONDS,
                                    env=sanitizer_environment())
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


def capstone_folders(stack):
    """The exercise folders the capstone's program is built from: its own,
    and on the learner's stack, exercises 03 to 08."""
    folders = [chapter_folder(CAPSTONE_CHAPTER)]
    if stack == "exercises":
        folders += [chapter_folder(f"{n:02d}") for n in range(3, 9)]
    return folders


def grade_capstone(args, number, folder, tasks):
    """Chapter 11: build the learner's chat server, let the driver grade it."""
    target = CAPSTONE_TARGETS[args.stack]
    server = args.binary or os.path.join(args.build_dir, "bin", target)
    built = True
    if args.build:
        print(f"building {os.path.relpath(folder, ROOT)} on {CAPSTONE_STACKS[args.stack]} "
              f"({target} in {args.build_dir}) ...", flush=True)
        stack = capstone_folders(args.stack)
        built, lines = build_as_saved(args.build_dir, target, stack, f"ch{number}-{args.stack}")
        if not built and any("unknown target" in line for line in lines):
            # A build folder configured before tests/11-capstone/ existed
            # (CMake finds the tests' folders when it configures): again.
            subprocess.run(["cmake", "-S", ROOT, "-B", args.build_dir], capture_output=True)
            built, lines = build_as_saved(args.build_dir, target, stack, f"ch{number}-{args.stack}")
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
        built, lines = build_as_saved(args.build_dir, target, [folder], f"ch{number}")
        for line in lines:
            print(f"    {line}")
        if not built:
            print("the exercise does not compile (errors above): every task FAILs")

    results = []
    for task, title in tasks:
        if built and not args.expect_fail:
            print(f"running task {task}'s tests ...", flush=True)
        result = (run_task(binary, task, expect_fail=args.expect_fail) if built
                  else TaskResult(False, "does not compile"))
        results.append((task, title, result))

    # Why tasks failed comes first, so that the table and the score are
    # the last thing on the learner's screen.
    if not args.expect_fail:
        for task, title, result in results:
            shown = result.output.splitlines() if args.verbose else explain(result, binary)
            if result.passed or not shown:
                continue
            print(f"task {task} ({title}):")
            for line in shown:
                print(f"    {line}")
        print()

    outcome = {task: (result.passed, result.detail) for task, _, result in results}
    others = None
    if (built and not args.task and not args.binary and not args.expect_fail
            and all(result.passed for _, _, result in results)):
        others = grade_other_suites(binary)
    advice = None
    if not args.task:
        advice = (f"hint: make hint CH={number} TASK=N    all of a task's test output: "
                  f"{os.path.relpath(binary)} --gtest_filter='TaskN_*'")
    return report(tasks, outcome, args.expect_fail, advice, others)


def grade_other_suites(binary):
    """(passed, detail) of the chapter's other tests on the learner's
    code, with why they failed printed first; None if it has none."""
    listed = subprocess.run([binary, "--gtest_list_tests", f"--gtest_filter={OTHER_SUITES}"],
                            capture_output=True, text=True, errors="replace",
                            env=sanitizer_environment())
    if not any(line.startswith("  ") for line in listed.stdout.splitlines()):
        return None  # every test of the chapter grades a task
    print("running the chapter's other tests ...", flush=True)
    result = run_task(binary, None, suites=OTHER_SUITES)
    if not result.passed:
        print(f"{OTHER_TITLE} (every task passes, but these see a mistake the tasks' tests miss):")
        for line in explain(result, binary):
            print(f"    {line}")
        print()
    return result.passed, result.detail


if __name__ == "__main__":
    sys.exit(main())
