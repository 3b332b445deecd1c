#!/usr/bin/env python3
"""After a failed `ctest` run: one line for each failed test case.

CTest names the failed programs at the very end of its output, but the
cases that failed inside them (a GoogleTest program holds hundreds) are
far above, in the middle of everything else. A CI page or a terminal
often keeps only the end, so this prints, last, where each failure is:

    final.io_uring.final_core_tests: WithTimeout.Late (gen_test.cpp:433: Expected: ...)

Usage: failed_cases.py BUILD_DIR    (reads BUILD_DIR/Testing/Temporary)
"""

import os
import re
import sys

MOST_LINES = 12  # enough to name the failures; the full text is in the log above

TEST_STARTED = re.compile(r"^\d+/\d+ Test: (.+)$")  # CTest's line before a test's output
GTEST_FAILED = re.compile(r"^\[  FAILED  \] (\S+) \(\d+ ms\)")
# "file.cpp:12: Failure", or "unknown file: Failure" for an exception.
FAILURE_AT = re.compile(r"^(.*?)(?::(\d+))?: Failure$")
# A script's failed check: "FAIL  name: why" (tests/clients/checks.py),
# "FAIL name: why" (tfb_verify.py's column of verdicts) or "FAIL: why".
SCRIPT_FAILED = re.compile(r"^FAIL:?\s+(.*)$")


def failed_test_names(temporary):
    """The tests CTest recorded as failed in its last run ("N:name" lines)."""
    path = os.path.join(temporary, "LastTestsFailed.log")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as file:
        return [line.strip().split(":", 1)[1] for line in file if ":" in line]


def outputs_by_test(temporary):
    """Each test's output in LastTest.log, by the test's name."""
    outputs = {}
    name = None
    lines = []
    with open(os.path.join(temporary, "LastTest.log"), encoding="utf-8", errors="replace") as file:
        for line in file:
            line = line.rstrip("\n")
            started = TEST_STARTED.match(line)
            if started:
                name, lines = started.group(1), []
            elif name is not None and line == "<end of output>":
                outputs[name] = lines
                name = None
            elif name is not None:
                lines.append(line)
    return outputs


def failed_cases(lines):
    """(case, where and why) for each GoogleTest case that failed in `lines`,
    at its first failed check (the others often follow from it); for a
    script of checks, each check it says failed; else (a crash) the last
    line."""
    cases = []
    where = ""
    for index, line in enumerate(lines):
        at = FAILURE_AT.match(line)
        if at and not where:
            reason = lines[index + 1].strip() if index + 1 < len(lines) else ""
            place = os.path.basename(at.group(1)) + (f":{at.group(2)}" if at.group(2) else "")
            where = f"{place}: {reason[:200]}"
        failed = GTEST_FAILED.match(line)
        if failed:
            cases.append((failed.group(1), where))
            where = ""
    if not cases:
        cases = [("", failed.group(1).strip()[:200])
                 for failed in map(SCRIPT_FAILED.match, lines) if failed]
    if not cases:
        last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
        cases.append(("", last[:200]))
    return cases


def main():
    temporary = os.path.abspath(os.path.join(sys.argv[1], "Testing", "Temporary"))
    names = failed_test_names(temporary)
    if not names:
        return 0
    outputs = outputs_by_test(temporary)
    report = []
    for name in names:
        for case, why in failed_cases(outputs.get(name, [])):
            # A test of one case (final.Sleep.Waits...) is named once.
            label = name if not case or name.endswith("." + case) else f"{name}: {case}"
            report.append(f"  {label} ({why})" if why else f"  {label}")
    print(f"\nThe failed cases (their whole output is above, and in {temporary}/LastTest.log):")
    for line in report[:MOST_LINES]:
        print(line)
    if len(report) > MOST_LINES:
        print(f"  ... and {len(report) - MOST_LINES} more")
    return 0


if __name__ == "__main__":
    sys.exit(main())
