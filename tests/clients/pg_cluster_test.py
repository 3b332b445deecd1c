#!/usr/bin/env python3
"""tools/pg_cluster.py starts its cluster even when the free port it found
is taken before the server binds it.

    pg_cluster_test.py

Tests beside one another start servers and make connections all the
time: one of them may take the port pg_cluster.py found free in the
second before PostgreSQL binds it. Here the first port offered is held
by a listening socket of ours; the cluster must start on another one,
and a port given by --port that is taken must still be an error that
says so. Exit 77 (CTest's skip) without PostgreSQL. Standard library only.
"""
import os
import socket
import sys
import tempfile
import unittest

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "tools")
sys.path.insert(0, TOOLS)
import pg_cluster  # noqa: E402


class TakenPort(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="pg-cluster-test-")
        self.holder = socket.socket()
        self.holder.bind(("127.0.0.1", 0))
        self.holder.listen()
        self.taken = self.holder.getsockname()[1]

    def tearDown(self):
        pg_cluster.stop(self.directory, remove=True)
        self.holder.close()

    def test_a_free_port_taken_before_the_server_binds_it_is_replaced(self):
        offered = [self.taken]
        real_free_port = pg_cluster.free_port
        pg_cluster.free_port = lambda: offered.pop() if offered else real_free_port()
        try:
            dsn = pg_cluster.start(self.directory, tls=False)
        finally:
            pg_cluster.free_port = real_free_port
        self.assertEqual(offered, [], "the taken port was never offered")
        port = int(dict(field.split("=", 1) for field in dsn.split())["port"])
        self.assertNotEqual(port, self.taken)
        self.assertIsNotNone(pg_cluster.server_pid(self.directory))

    def test_a_taken_port_asked_for_is_an_error_naming_it(self):
        with self.assertRaises(pg_cluster.ClusterError) as raised:
            pg_cluster.start(self.directory, tls=False, port=self.taken)
        self.assertIn("could not create any TCP/IP sockets", str(raised.exception))


if __name__ == "__main__":
    try:
        pg_cluster.server_bin()
    except pg_cluster.ClusterError as missing:
        print("SKIPPED: %s" % missing)
        sys.exit(77)
    unittest.main()
