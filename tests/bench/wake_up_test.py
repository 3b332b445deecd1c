#!/usr/bin/env python3
"""The benches' wake-up probe (run_bench.cross_cpu_round_trip_us) measures
a round trip across two CPUs, and the machine line warns when it is slow.

    wake_up_test.py

A host whose idle CPUs halt without polling first makes every request of
a one-connection run wait for two slow wake-ups; the benches say so in
their Machine line instead of reporting the host as the servers' cost.
The probe is bounded in time, leaves the caller's CPU affinity as it was
and its child gone. Standard library only.
"""
import contextlib
import io
import os
import sys
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_bench  # noqa: E402

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2


class WakeUpProbeTest(unittest.TestCase):
    @unittest.skipUnless(TWO_CPUS, "needs two CPUs")
    def test_a_round_trip_is_measured_and_the_caller_left_as_it_was(self):
        affinity = os.sched_getaffinity(0)
        started = time.monotonic()
        took = run_bench.cross_cpu_round_trip_us(rounds=50, budget_s=0.5)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIsNotNone(took)
        # Two wake-ups cost something, and even a slow host under a second.
        self.assertGreater(took, 0.5)
        self.assertLess(took, 1e6)
        self.assertEqual(os.sched_getaffinity(0), affinity)
        with self.assertRaises(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)  # the echo process was reaped

    @unittest.skipUnless(TWO_CPUS, "needs two CPUs")
    def test_the_figure_is_the_round_trips_own(self):
        # Each read waits 2 ms first (in both processes: the child is a
        # fork). The two waits overlap, so a round trip takes 2 ms at least:
        # a figure that did not come from the round trips would not know.
        real_read = os.read

        def slow_read(fd, n):
            time.sleep(0.002)
            return real_read(fd, n)

        with mock.patch.object(os, "read", slow_read):
            took = run_bench.cross_cpu_round_trip_us(rounds=10, budget_s=5)
        self.assertGreater(took, 2000)
        self.assertLess(took, 200000)

    @unittest.skipUnless(TWO_CPUS, "needs two CPUs")
    def test_a_slow_round_trip_is_warned_of_and_stated(self):
        warnings = io.StringIO()
        # A bound of 0: every host is "slow" now.
        with mock.patch.object(run_bench, "SLOW_WAKE_UP_US", 0), \
                contextlib.redirect_stderr(warnings):
            fact = run_bench.wake_up_fact()
        self.assertRegex(fact, r"^\d+\.\d µs$")
        self.assertIn("a wake-up round trip across two CPUs takes", warnings.getvalue())
        self.assertIn("not the servers", warnings.getvalue())

    @unittest.skipUnless(TWO_CPUS, "needs two CPUs")
    def test_the_machine_line_holds_it(self):
        # A bound no host reaches: no warning in the test's output.
        with mock.patch.object(run_bench, "SLOW_WAKE_UP_US", 1e9):
            facts = dict(run_bench.machine_facts(1024))
        self.assertRegex(facts["a wake-up round trip across two CPUs (pipes)"], r"µs$")

    def test_one_cpu_is_not_measured(self):
        affinity = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(affinity)})
        try:
            self.assertIsNone(run_bench.cross_cpu_round_trip_us())
            self.assertEqual(run_bench.wake_up_fact(), "not measured (one CPU)")
        finally:
            os.sched_setaffinity(0, affinity)


if __name__ == "__main__":
    unittest.main()
