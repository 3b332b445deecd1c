#!/usr/bin/env python3
"""Black-box tests of build/bin/ch07_demo with Python's http.client.

    ch07_demo_test.py --server build/bin/ch07_demo

The demo's handlers fetch from the demo itself: /parallel must take about
one delay (its two fetches wait together), /sequential two, and the
server must answer others meanwhile. It must stop cleanly on SIGTERM.
Standard library only; every wait has a timeout.
"""
import argparse
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProcess  # noqa: E402
from timed_get import timed_get  # noqa: E402

SERVER = None
TIMEOUT = 10.0


class DemoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(SERVER)
        cls.server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def get(self, path):
        return timed_get(self.server.port, path)

    def test_hello(self):
        status, body, _ = self.get("/")
        self.assertEqual((status, body), (200, "Hello, world"))

    def test_slow_waits_its_delay(self):
        status, body, took = self.get("/slow?ms=200")
        self.assertEqual((status, body), (200, "slow reply after 200 ms"))
        self.assertGreaterEqual(took, 0.2)

    def test_parallel_takes_one_delay(self):
        status, body, took = self.get("/parallel?ms=400")
        self.assertEqual(status, 200, body)
        self.assertIn("2 fetches in parallel", body)
        self.assertEqual(body.count('200 "slow reply after 400 ms"'), 2, body)
        self.assertGreaterEqual(took, 0.4)
        self.assertLess(took, 0.7, "two 400 ms fetches at once should take about 400 ms")

    def test_sequential_takes_two_delays(self):
        status, body, took = self.get("/sequential?ms=300")
        self.assertEqual(status, 200, body)
        self.assertIn("one after the other", body)
        self.assertGreaterEqual(took, 0.6)

    def test_others_are_served_while_fetches_wait(self):
        results = {}
        waiting = threading.Thread(target=lambda: results.update(slow=self.get("/parallel?ms=800")))
        waiting.start()
        time.sleep(0.1)
        status, body, took = self.get("/")
        waiting.join(TIMEOUT)
        self.assertFalse(waiting.is_alive())
        self.assertEqual((status, body), (200, "Hello, world"))
        self.assertLess(took, 0.4, "the loop must not wait for the fetches")
        self.assertEqual(results["slow"][0], 200)

    def test_bad_delay_is_400(self):
        status, _, _ = self.get("/parallel?ms=soon")
        self.assertEqual(status, 400)

    def test_stops_on_sigterm(self):
        with ServerProcess(SERVER, stderr=open(os.devnull, "w")) as other:
            process = other.process
            other.stop()
            self.assertEqual(process.returncode, 0)


def main():
    global SERVER
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    args, rest = parser.parse_known_args()
    SERVER = args.server
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
