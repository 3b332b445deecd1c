#!/usr/bin/env python3
"""tests/bench/code_footprint.py reads callgrind's file as callgrind writes it.

    code_footprint_test.py

A small file in callgrind's format with --dump-instr=yes (positions by
address and line, relative to the line before; names compressed to ids,
first named in a call and used bare after it, and shared by fl, fi and
fe; code inlined from a header; a call's cost line after its calls=
line) stands for a server that ran 100 requests:
the lines run on at least half of them are counted once each, start-up
code and the calls' inclusive costs are not, and a line's file is its
function's. Standard library only.
"""
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import code_footprint  # noqa: E402

# 100 requests. In demo_app: HTTP2Session::receive runs 0x1000 to 0x104c
# on each request (two lines: 0x1000 and 0x1040), and at 0x1048 calls
# StaticFileHandler::serve, whose inclusive cost (5,000) is on the line
# after calls= and must not count as the caller's. serve runs 0x2000 on
# each request, 0x2044 (line 0x2040) on 40 of them, under half, and
# 0x2080 on 60, over half. main ran once at 0x3000. In libc, memcpy runs
# 0x100 and 0x13f (one line) 100 times each.
SAMPLE = textwrap.dedent("""\
    # callgrind format
    version: 1
    creator: callgrind-3.19.0
    positions: instr line
    events: Ir

    ob=(1) /build/bin/demo_app
    fl=(1) http2session.cpp
    fn=(1) tornado::detail::HTTP2Session::receive(std::string_view)
    0x1000 10 100
    fi=(3) basic_string.h
    +8 * 100
    fe=(1)
    +64 +2 100
    cfi=(4) web_static.cpp
    cfn=(2) tornado::StaticFileHandler::serve(std::string)
    calls=100 0x2000 20
    * * 5000
    +4 * 100

    fl=(4)
    fn=(2)
    0x2000 20 100
    +68 +1 40
    +60 +1 60

    fl=(3)
    fn=(3) main
    0x3000 1 1

    ob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
    fl=(2) ???
    fn=(4) memcpy
    0x100 0 100
    +63 * 100
    """)


class Footprint(unittest.TestCase):
    def setUp(self):
        handle, self.path = tempfile.mkstemp(suffix=".callgrind")
        with os.fdopen(handle, "w") as out:
            out.write(SAMPLE)

    def tearDown(self):
        os.unlink(self.path)

    def read(self, by):
        counts, function_at, names = code_footprint.read_counts(self.path)
        return code_footprint.footprint(counts, function_at, names, 100, by)

    def test_lines_run_on_half_of_the_requests_are_counted_once(self):
        lines, groups = self.read("object")
        # receive: 0x1000 and 0x1040; serve: 0x2000 and 0x2080; memcpy: 0x100
        self.assertEqual(lines, 5)
        self.assertEqual(groups["/build/bin/demo_app"], 4)
        self.assertEqual(groups["/usr/lib/x86_64-linux-gnu/libc.so.6"], 1)

    def test_a_calls_cost_line_is_not_the_callers_code(self):
        counts, _, _ = code_footprint.read_counts(self.path)
        # 0x1048 is the call instruction: run 100 times, not 100 + 5,000.
        self.assertEqual(counts[("1", 0x1048)], 100, "the callee's cost counted as the caller's")
        self.assertEqual(counts[("1", 0x104c)], 100)

    def test_files_are_the_functions_own_not_an_inlined_headers(self):
        _, groups = self.read("file")
        self.assertEqual(groups["http2session.cpp"], 2)
        self.assertEqual(groups["web_static.cpp"], 2)
        self.assertEqual(groups["???"], 1)
        self.assertNotIn("basic_string.h", groups)

    def test_a_file_counted_by_line_is_refused_with_the_option_to_use(self):
        with open(self.path, "w") as out:
            out.write(SAMPLE.replace("positions: instr line", "positions: line"))
        done = subprocess.run([sys.executable, os.path.join(HERE, "code_footprint.py"),
                               self.path, "--requests", "100"], capture_output=True, text=True)
        self.assertEqual(done.returncode, 1)
        self.assertIn("--dump-instr=yes", done.stderr)

    def test_names_given_once_in_a_call_are_used_after(self):
        _, groups = self.read("function")
        self.assertEqual(groups["tornado::StaticFileHandler::serve(std::string)"], 2)

    def test_the_command_prints_the_total_in_kib(self):
        done = subprocess.run([sys.executable, os.path.join(HERE, "code_footprint.py"),
                               self.path, "--requests", "100", "--by", "file"],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("5 lines of 64 bytes, 0.3 KiB", done.stdout)


if __name__ == "__main__":
    unittest.main()
