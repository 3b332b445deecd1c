#!/usr/bin/env python3
"""Black-box tests of build/bin/ch09_app with Python's http.client, against
a real PostgreSQL.

    ch09_app_test.py --server build/bin/ch09_app --pg-cluster tools/pg_cluster.py

Under CTest the cluster is the one every PostgreSQL test shares (its folder
in TORNADO_TEST_POSTGRES_DIR); run by hand, the test starts one of its own
in a temporary folder and stops it at the end.

/page (the chapter's pool) and /executor (blocking libpq on threads) must
leave the loop free: a GET / sent meanwhile is answered at once.
/blocking-wrong, the lesson's trap, must hold it. Under a flood a page is
admitted to the pool's line or refused (503) at once, and the pages
admitted are served. Standard library only; every wait has a timeout.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProcess  # noqa: E402
from timed_get import get_beside_slow, timed_get  # noqa: E402

SERVER = None
CLUSTER_SCRIPT = None
DSN = None
TIMEOUT = 10.0
PAGE = re.compile(r"item (\d+): item number \1 \(and (\d+) ms in pg_sleep\)\n")


def start_app(*arguments):
    return ServerProcess(SERVER, "--address=127.0.0.1", "--dsn=" + DSN, *arguments,
                         stderr=subprocess.DEVNULL)


class AppTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = start_app("--pool=4", "--threads=4")
        cls.server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def get(self, path):
        return timed_get(self.server.port, path)

    def hello_while(self, path):
        return get_beside_slow(self.server.port, path)

    def test_hello(self):
        self.assertEqual(self.get("/")[:2], (200, "Hello, world"))

    def test_page_reads_an_item_and_sleeps(self):
        for path in ("/page?ms=100", "/executor?ms=100", "/blocking-wrong?ms=100"):
            with self.subTest(path=path):
                status, body, took = self.get(path)
                self.assertEqual(status, 200, body)
                match = PAGE.fullmatch(body)
                self.assertIsNotNone(match, body)
                self.assertTrue(1 <= int(match.group(1)) <= 1000, body)
                self.assertEqual(match.group(2), "100")
                self.assertGreaterEqual(took, 0.1)

    def test_the_pool_leaves_the_loop_free(self):
        slow, hello = self.hello_while("/page?ms=800")
        self.assertEqual(slow[0], 200, slow[1])
        self.assertGreaterEqual(slow[2], 0.8)
        self.assertEqual(hello[:2], (200, "Hello, world"))
        self.assertLess(hello[2], 0.4, "GET / waited for the page's query")

    def test_the_executor_leaves_the_loop_free(self):
        slow, hello = self.hello_while("/executor?ms=800")
        self.assertEqual(slow[0], 200, slow[1])
        self.assertEqual(hello[:2], (200, "Hello, world"))
        self.assertLess(hello[2], 0.4, "GET / waited for the thread pool's query")

    def test_blocking_on_the_loop_freezes_everyone(self):
        slow, hello = self.hello_while("/blocking-wrong?ms=800")
        self.assertEqual(slow[0], 200, slow[1])
        self.assertEqual(hello[:2], (200, "Hello, world"))
        self.assertGreaterEqual(hello[2], 0.4, "GET / should have waited for the blocked loop")

    def test_stats_counts_the_pools_connections(self):
        self.get("/page?ms=0")
        status, body, _ = self.get("/stats")
        self.assertEqual(status, 200)
        match = re.fullmatch(r"open (\d+), idle (\d+), waiting 0\n", body)
        self.assertIsNotNone(match, body)
        self.assertGreaterEqual(int(match.group(1)), 1)
        self.assertLessEqual(int(match.group(1)), 4, "more connections than --pool=4")

    def test_bad_delay_is_400(self):
        for path in ("/page?ms=soon", "/executor?ms=-1", "/blocking-wrong?ms=99999", "/page?ms="):
            with self.subTest(path=path):
                status, body, _ = self.get(path)
                self.assertEqual(status, 400, body)

    def test_bad_options_are_refused(self):
        for option in ("--pool=0", "--pool=x", "--max-waiting=-1", "--threads=1001"):
            with self.subTest(option=option):
                done = subprocess.run([SERVER, "--port=0", "--dsn=" + DSN, option],
                                      capture_output=True, text=True, timeout=TIMEOUT)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn("must be a number", done.stderr)
        done = subprocess.run([SERVER, "--port=0"], capture_output=True, text=True,
                              timeout=TIMEOUT)
        self.assertEqual(done.returncode, 2)
        self.assertIn("--dsn=DSN is required", done.stderr)

    def test_stops_on_sigterm(self):
        with start_app() as other:
            process = other.process
            other.stop()
            self.assertEqual(process.returncode, 0)


class FloodTest(unittest.TestCase):
    """More clients than one connection and a line of two can hold, each
    asking again as soon as it is answered: the pages the line admits are
    served at about the connection's pace (20 pages of 50 ms a second),
    and the rest are refused with a 503, never a 500 or a dropped
    connection."""

    CLIENTS = 12
    SECONDS = 2.0
    MS = 50

    def test_a_full_line_refuses_with_503_and_the_admitted_are_served(self):
        with start_app("--pool=1", "--max-waiting=2") as server:
            counts = {}
            lock = threading.Lock()
            stop_at = time.monotonic() + self.SECONDS

            def client():
                while time.monotonic() < stop_at:
                    status, body, _ = timed_get(server.port, "/page?ms=%d" % self.MS)
                    with lock:
                        counts[status] = counts.get(status, 0) + 1
                    if status == 200:
                        self.assertIsNotNone(PAGE.fullmatch(body), body)

            threads = [threading.Thread(target=client) for _ in range(self.CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(self.SECONDS + 2 * TIMEOUT)
            self.assertEqual(set(counts) - {200, 503}, set(), counts)
            self.assertGreater(counts.get(503, 0), 0, "a line of two should have refused some")
            # One connection serves a 50 ms page 20 times a second: about 40
            # in 2 s. A third of that allows for a slow machine.
            capacity = self.SECONDS * 1000 / self.MS
            self.assertGreaterEqual(counts.get(200, 0), capacity / 3,
                                    "too few pages served: %s" % counts)


class Cluster:
    """The shared cluster's DSN, or a cluster of our own while the tests run."""

    def __init__(self):
        self.own_directory = None

    def dsn(self):
        shared = os.environ.get("TORNADO_TEST_POSTGRES_DIR")
        if shared:
            return self.run("dsn", shared)
        self.own_directory = tempfile.mkdtemp(prefix="ch09-app-test-postgres-")
        return self.run("start", self.own_directory, "--no-tls", "--owner", str(os.getpid()))

    def stop(self):
        if self.own_directory:
            self.run("stop", self.own_directory, "--remove")
            shutil.rmtree(self.own_directory, ignore_errors=True)

    def run(self, *arguments):
        done = subprocess.run([sys.executable, CLUSTER_SCRIPT, *arguments], capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            sys.exit("pg_cluster.py %s failed: %s" % (arguments[0], done.stderr.strip()))
        return done.stdout.strip()


def main():
    global SERVER, CLUSTER_SCRIPT, DSN
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--pg-cluster", required=True)
    args, rest = parser.parse_known_args()
    SERVER = args.server
    CLUSTER_SCRIPT = args.pg_cluster
    cluster = Cluster()
    DSN = cluster.dsn()
    try:
        program = unittest.main(argv=[sys.argv[0], *rest], verbosity=2, exit=False)
    finally:
        cluster.stop()
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
