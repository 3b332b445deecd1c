#!/usr/bin/env python3
"""tools/failed_cases.py names why each failed test failed, whichever way
the test prints a failure.

    failed_cases_test.py

Each case writes what CTest leaves in Testing/Temporary after a failed
run (LastTestsFailed.log and LastTest.log, with each test's output
between its "N/M Test: name" line and "<end of output>") for one test
that printed its failure in one of the shapes our tests use, then reads
what failed_cases.py prints. A CI page keeps only the end of the output,
so the reason must be in that last line, not only "summary: 1 failed".
Standard library only.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tools", "failed_cases.py")


def report_for(name, output_lines):
    """What failed_cases.py prints for a run where test `name` failed
    after printing `output_lines`."""
    build = tempfile.mkdtemp(prefix="failed-cases-test-")
    try:
        temporary = os.path.join(build, "Testing", "Temporary")
        os.makedirs(temporary)
        with open(os.path.join(temporary, "LastTestsFailed.log"), "w") as failed:
            failed.write("7:%s\n" % name)
        with open(os.path.join(temporary, "LastTest.log"), "w") as log:
            log.write("7/9 Testing: %s\n7/9 Test: %s\nCommand: x\nOutput:\n---\n" % (name, name))
            log.write("".join(line + "\n" for line in output_lines))
            log.write("<end of output>\nTest time =   4.50 sec\n")
        done = subprocess.run([sys.executable, SCRIPT, build], capture_output=True, text=True)
        return done.stdout
    finally:
        shutil.rmtree(build)


class FailedCases(unittest.TestCase):
    def test_a_verifiers_column_of_verdicts(self):
        # tests/clients/tfb_verify.py: "%-4s %s", so one space after FAIL.
        printed = report_for("final.client.techempower", [
            "FAIL the verification ran to its end: RuntimeError: pg_cluster.py start failed [ours]",
            "summary: 0 ok, 1 failed, 0 warnings (4.5 s)"])
        self.assertIn("final.client.techempower (the verification ran to its end: RuntimeError: "
                      "pg_cluster.py start failed [ours])", printed)

    def test_a_script_of_checks(self):
        # tests/clients/checks.py: "FAIL  name: why".
        printed = report_for("final.client.blog", [
            "PASS  the home page", "FAIL  a post is saved: 500 from POST /compose", "done"])
        self.assertIn("final.client.blog (a post is saved: 500 from POST /compose)", printed)

    def test_a_crash_names_the_last_line(self):
        printed = report_for("final.client.chat", ["starting", "Segmentation fault"])
        self.assertIn("final.client.chat (Segmentation fault)", printed)


if __name__ == "__main__":
    unittest.main()
