#!/usr/bin/env python3
"""tools/grade.py reports what went wrong first, in the learner's terms.

    grade_report_test.py

Each case runs grade.run_task on a small stand-in for a test program (a
Python script that answers GoogleTest's command line and prints what a
real one would: RUN and FAILED lines, a JSON report, a log line on
stderr, a LeakSanitizer report at exit), then reads the lines grade.py
would print. The cases are the ones a learner met: a hang that left
coroutine frames for LeakSanitizer, reported as "a sanitizer found an
error" over allocator frames; a server's "TODO(task 2)" that never
reached the report; a test input's CR that was lost. Standard library only.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "tools")
sys.path.insert(0, TOOLS)
import grade  # noqa: E402

# What a LeakSanitizer report at exit looks like after a hang: frames of
# the sanitizer and of the standard library first, the learner's deeper.
LEAK_REPORT = textwrap.dedent(f"""\
    =================================================================
    ==4242==ERROR: LeakSanitizer: detected memory leaks

    Direct leak of 208 byte(s) in 1 object(s) allocated from:
        #0 0x7f00 in operator new(unsigned long) ../../../../src/libsanitizer/asan/asan_new_delete.cpp:95
        #1 0x7f01 in std::__new_allocator<char>::allocate(unsigned long, void const*) /usr/include/c++/12/bits/new_allocator.h:137
        #2 0x7f04  (/lib/x86_64-linux-gnu/libpq.so.5+0xdbc0)
        #3 0x7f05 in PQconnectStart (/lib/x86_64-linux-gnu/libpq.so.5+0x14c3e)
        #4 0x7f02 in course::PGConnection::connect(std::string, long, course::IOLoop&) {grade.ROOT}/exercises/09-database/pg.cpp:52
        #5 0x7f03 in course::testing::Task1_Connect_X_Test::TestBody() {grade.ROOT}/tests/09-database/connect_test.cpp:99

    SUMMARY: AddressSanitizer: 208 byte(s) leaked in 1 allocation(s).
    """)


def fake_program(folder, tests, leak=False, crash_after=None, empty_report=False):
    """A script that behaves as a GoogleTest program whose `tests` are
    [(name, failure message or None, stderr line or None)]: it prints the
    RUN and OK/FAILED lines, each failure's place and message, the stderr
    line while its test runs, and the JSON report; then a leak report if
    `leak`. With crash_after=N it stops (exit 134, no report) while test N
    runs; with empty_report, its report is an empty file (a sanitizer that
    aborted at exit while GoogleTest wrote it)."""
    script = os.path.join(folder, "fake_tests")
    body = textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys
        tests = {tests!r}
        report = next(a.split("=", 1)[1][5:] for a in sys.argv if a.startswith("--gtest_output="))
        suites = {{}}
        for index, (name, failure, logged) in enumerate(tests):
            print("[ RUN      ] " + name, flush=True)
            if logged:
                print(logged, file=sys.stderr, flush=True)
            if {crash_after!r} == index:
                sys.exit(134)
            suite, test = name.split(".")
            entry = {{"name": test}}
            if failure:
                print("{grade.ROOT}/tests/x_test.cpp:12: Failure\\n" + failure, flush=True)
                entry["failures"] = [{{"failure": "{grade.ROOT}/tests/x_test.cpp:12\\n" + failure}}]
                print("[  FAILED  ] " + name + " (5 ms)", flush=True)
            else:
                print("[       OK ] " + name + " (5 ms)", flush=True)
            suites.setdefault(suite, []).append(entry)
        failed = sum(1 for _, failure, _ in tests if failure)
        with open(report, "w") as f:
            json.dump({{"tests": len(tests), "failures": failed,
                       "testsuites": [{{"name": s, "testsuite": t}} for s, t in suites.items()]}}, f)
        if {empty_report!r}:
            open(report, "w").close()
            sys.exit(1)
        if {leak!r}:
            sys.stderr.write({LEAK_REPORT!r})
            sys.exit(1)
        sys.exit(1 if failed else 0)
        """)
    with open(script, "w", encoding="utf-8") as f:
        f.write(body)
    os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR)
    return script


def graded(tests, **options):
    """(TaskResult, the lines grade.py prints for it)."""
    with tempfile.TemporaryDirectory() as folder:
        program = fake_program(folder, tests, **options)
        result = grade.run_task(program, 1, timeout=30)
        return result, grade.explain(result, program)


class GradeReportTest(unittest.TestCase):
    def test_a_hang_is_reported_as_the_failed_test_with_the_leaks_beside_it(self):
        hang = ("the connect never finished: waited 5 s "
                "(run at tests/09-database/connect_test.cpp:99)")
        result, lines = graded([("Task1_Connect.Quick", None, None),
                                ("Task1_Connect.Silent", hang, None),
                                ("Task1_Connect.Other", None, None)], leak=True)
        self.assertFalse(result.passed)
        self.assertEqual(result.detail, "1 of 3 tests failed, and leaks at exit")
        text = "\n".join(lines)
        self.assertLess(text.index("Task1_Connect.Silent:"), text.index("LeakSanitizer"),
                        "the failed test comes first, the leak after it")
        self.assertIn(hang, text)
        self.assertIn("at exit, after the tests:", text)
        # The frames shown: the learner's, not the sanitizer's or the library's.
        self.assertIn("exercises/09-database/pg.cpp:52", text)
        self.assertNotIn("libsanitizer", text)
        self.assertNotIn("new_allocator", text)
        self.assertNotIn("libpq.so", text)
        self.assertIn("fix the failures above first", text)

    def test_a_leak_after_every_test_passed_is_the_verdict(self):
        result, lines = graded([("Task1_A.B", None, None)], leak=True)
        self.assertFalse(result.passed)
        self.assertEqual(result.detail, "every test passed, but leaks at exit")
        self.assertIn("exercises/09-database/pg.cpp:52", "\n".join(lines))

    def test_what_the_program_logged_is_shown_beside_the_test_it_ran_in(self):
        logged = "IOStream: exception in read callback: TODO(task 2): parse_query"
        result, lines = graded([("Task4_Connection.KeepAlive", "server closed before sending", logged),
                                ("Task4_Connection.Fine", None, "a line of a passing test")])
        text = "\n".join(lines)
        self.assertIn("the program logged: " + logged, text)
        self.assertLess(text.index("server closed before sending"), text.index(logged))
        self.assertNotIn("a line of a passing test", text, "only failing tests' logs are shown")
        self.assertNotIn("x_test.cpp:12: Failure", text.split("the program logged")[1],
                         "GoogleTest's own lines are not the program's log")

    def test_control_bytes_in_a_message_are_shown_escaped(self):
        message = "sent: 5\r\r\nhello\x00 got 200"
        result, lines = graded([("Task5_Chunked.BadEnd", message, None)])
        text = "\n".join(lines)
        self.assertIn("sent: 5\\r\\r", text)
        self.assertIn("hello\\x00 got 200", text)
        self.assertNotIn("\r", text)

    def test_a_crash_names_its_test_and_the_failures_before_it(self):
        result, lines = graded([("Task2_A.Fails", "expected 3, got 4", None),
                                ("Task2_A.Crashes", None, "IOLoop: exception in callback: boom")],
                               crash_after=1)
        text = "\n".join(lines)
        self.assertFalse(result.passed)
        self.assertIn("the tests crashed (exit 134)", result.detail)
        self.assertIn("Task2_A.Fails:", text)
        self.assertIn("expected 3, got 4", text)
        self.assertIn("Task2_A.Crashes: the tests crashed (exit 134), in this test", text)
        self.assertIn("the program logged: IOLoop: exception in callback: boom", text)

    def test_a_failure_before_a_crash_is_shown_once(self):
        # Read from the output (there is no JSON report after a crash), a
        # failed test's lines are its message; they are no log besides.
        result, lines = graded([("Task3_A.Fails", "expected \"\"\nthe log: already done", None),
                                ("Task3_A.Crashes", None, None)], crash_after=1)
        text = "\n".join(lines)
        self.assertEqual(text.count("the log: already done"), 1, text)
        self.assertNotIn("the program logged", text)

    def test_an_empty_report_is_a_crash_not_a_crashed_grader(self):
        result, _ = graded([("Task1_A.B", None, None)], empty_report=True)
        self.assertFalse(result.passed)
        self.assertEqual(result.detail, "the tests crashed (exit 1)")

    def test_a_sanitizer_report_is_no_log(self):
        # What a test's heap-use-after-free prints: the report, whose frames
        # include GoogleTest's "HandleExceptionsInMethodIfSupported" (an
        # "xception" the log's news would have put first).
        report = "\n".join([
            "=================================================================",
            "==77==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020 at pc 0x55",
            "READ of size 4 at 0x6020 thread T1",
            f"    #0 0x55 in course::X::y() {grade.ROOT}/exercises/10-http2/trailers.h:60",
            "    #1 0x56 in void testing::internal::HandleExceptionsInMethodIfSupported<X>(...)"])
        result, lines = graded([("Task5_T.Reset", "expected 200", "server says: stream reset\n" + report)])
        text = "\n".join(lines)
        self.assertIn("the program logged: server says: stream reset", text)
        self.assertNotIn("HandleExceptionsInMethodIfSupported", text)
        self.assertNotIn("READ of size", text)

    @unittest.skipUnless(shutil.which("gdb") and shutil.which("cc"), "needs gdb and cc")
    def test_a_stuck_test_is_stopped_early_and_says_where_it_was(self):
        # A program whose second test never ends, spinning in a function of
        # its own: the report names the function and its line, taken by
        # gdb before the program was stopped.
        with tempfile.TemporaryDirectory() as folder:
            source = os.path.join(folder, "stuck.c")
            with open(source, "w") as f:
                f.write(textwrap.dedent("""\
                    #include <stdio.h>
                    volatile int forever = 1;
                    void spin_without_yielding(void) {
                        while (forever) {
                        }
                    }
                    int main(void) {
                        puts("[ RUN      ] Task3_Loop.Quick");
                        puts("[       OK ] Task3_Loop.Quick (1 ms)");
                        puts("[ RUN      ] Task3_Loop.NeverYields");
                        fflush(stdout);
                        spin_without_yielding();
                        return 0;
                    }
                    """))
            program = os.path.join(folder, "stuck")
            subprocess.run(["cc", "-g", "-O0", "-o", program, source], check=True)
            saved = grade.TEST_TIMEOUT_SECONDS
            grade.TEST_TIMEOUT_SECONDS = 2
            try:
                result = grade.run_task(program, 3, timeout=60)
            finally:
                grade.TEST_TIMEOUT_SECONDS = saved
            text = "\n".join(grade.explain(result, program))
        self.assertFalse(result.passed)
        self.assertEqual(result.detail, "one test ran over 2 s: stuck")
        self.assertIn("Task3_Loop.NeverYields: one test ran over 2 s: stuck, in this test", text)
        self.assertIn("where its threads were when it was stopped:", text)
        self.assertRegex(text, r"thread 1: at spin_without_yielding \S*stuck\.c:4")

    def test_the_chapters_other_tests_failing_on_a_full_score_fail_the_grade(self):
        tasks = [(1, "one"), (2, "two")]
        outcome = {1: (True, "3 tests"), 2: (True, "4 tests")}
        with tempfile.TemporaryFile("w+") as out:
            saved, sys.stdout = sys.stdout, out
            try:
                status = grade.report(tasks, outcome, False, None, others=(False, "1 of 9 tests failed"))
            finally:
                sys.stdout = saved
            out.seek(0)
            text = out.read()
        self.assertEqual(status, 1)
        self.assertIn("the chapter's other tests, on your code  FAIL  (1 of 9 tests failed)", text)
        self.assertTrue(text.rstrip().endswith(
            "score: 2/2, but the chapter's other tests fail on your code (above)"))

    def test_a_passing_task_passes(self):
        result, _ = graded([("Task1_A.B", None, None), ("Task1_A.C", None, None)])
        self.assertTrue(result.passed)
        self.assertEqual(result.detail, "2 tests")


if __name__ == "__main__":
    unittest.main()
