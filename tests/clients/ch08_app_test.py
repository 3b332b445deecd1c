#!/usr/bin/env python3
"""Black-box tests of build/bin/ch08_app with Python's http.client.

    ch08_app_test.py --server build/bin/ch08_app

The coroutine routes must wait without blocking the loop (/sleep, and
/blocking through the thread pool): a GET / sent meanwhile is answered at
once. /blocking-wrong, the lesson's trap, must block it: the GET / waits.
/parallel's two fetches overlap; /crash is a 500 and the server goes on.
It must stop cleanly on SIGTERM. Standard library only; every wait has a
timeout.
"""
import argparse
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProcess  # noqa: E402
from timed_get import get_beside_slow, timed_get  # noqa: E402

SERVER = None


class AppTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(SERVER, stderr=open(os.devnull, "w"))
        cls.server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def get(self, path):
        return timed_get(self.server.port, path)

    def hello_while(self, path):
        return get_beside_slow(self.server.port, path)

    def test_hello(self):
        status, body, _ = self.get("/")
        self.assertEqual((status, body), (200, "Hello, world"))

    def test_sleep_waits_its_delay(self):
        status, body, took = self.get("/sleep?ms=200")
        self.assertEqual((status, body), (200, "slept 200"))
        self.assertGreaterEqual(took, 0.2)

    def test_sleep_leaves_the_loop_free(self):
        slow, hello = self.hello_while("/sleep?ms=800")
        self.assertEqual(slow[:2], (200, "slept 800"))
        self.assertEqual(hello[:2], (200, "Hello, world"))
        self.assertLess(hello[2], 0.4, "GET / waited for the sleeping coroutine")

    def test_blocking_on_the_pool_leaves_the_loop_free(self):
        slow, hello = self.hello_while("/blocking?ms=800")
        self.assertEqual(slow[:2], (200, "done 800"))
        self.assertGreaterEqual(slow[2], 0.8)
        self.assertLess(hello[2], 0.4, "GET / waited for the thread pool's work")

    def test_blocking_on_the_loop_freezes_everyone(self):
        slow, hello = self.hello_while("/blocking-wrong?ms=800")
        self.assertEqual(slow[:2], (200, "done 800"))
        self.assertEqual(hello[:2], (200, "Hello, world"))
        self.assertGreaterEqual(hello[2], 0.4, "GET / should have waited for the blocked loop")

    def test_parallel_fetches_overlap(self):
        status, body, took = self.get("/parallel?ms=400")
        self.assertEqual(status, 200, body)
        self.assertIn("2 fetches in parallel", body)
        self.assertEqual(body.count("200 slept 400"), 2, body)
        self.assertGreaterEqual(took, 0.4)
        self.assertLess(took, 0.7, "two 400 ms fetches at once should take about 400 ms")

    def test_crash_is_500_and_the_server_goes_on(self):
        status, body, _ = self.get("/crash")
        self.assertEqual(status, 500)
        self.assertIn("500: Internal Server Error", body)
        self.assertEqual(self.get("/")[:2], (200, "Hello, world"))

    def test_bad_delay_is_400(self):
        for path in ("/sleep?ms=soon", "/blocking?ms=-1", "/blocking-wrong?ms=99999"):
            with self.subTest(path=path):
                self.assertEqual(self.get(path)[0], 400)

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
