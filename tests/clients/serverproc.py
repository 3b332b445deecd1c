"""Start a course server as a child process, for client tests and benchmarks.

    with ServerProcess("build/bin/ch03_server") as server:
        socket.create_connection(("127.0.0.1", server.port))

The server is started with --port=0 (and any extra arguments); we wait for
its ready line "Listening on http://ADDRESS:PORT/" to learn the port, and
stop it by its PID on exit (SIGTERM, then SIGKILL after a grace period).
Standard library only.
"""
import os
import re
import selectors
import signal
import subprocess
import time

READY_LINE = re.compile(rb"Listening on https?://([0-9.]+):([0-9]+)/")


def children_of(pid):
    """The PIDs whose parent is `pid` (a forking server's workers), from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                # "pid (comm) state ppid ...": the name may hold spaces, so
                # split after its closing parenthesis.
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return children


class ServerProcess:
    def __init__(self, program, *args, ready_timeout=10.0, cpu=None, stderr=None, env=None):
        command = [program, "--port=0", *args]
        # Variables added to ours (TORNADO_IOLOOP=io_uring, for one).
        self.env = None if not env else {**os.environ, **env}
        if cpu is not None:  # pin the server to one core (benchmarks)
            command = ["taskset", "-c", str(cpu), *command]
        self.command = command
        self.ready_timeout = ready_timeout
        self.stderr = stderr
        self.process = None
        self.port = None
        # Standard output up to and including the ready line: a server that
        # announces more than one address prints the others before it.
        self.output = b""

    def __enter__(self):
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                        stderr=self.stderr, stdin=subprocess.DEVNULL,
                                        env=self.env)
        self.port = self._wait_until_ready()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self):
        return self.process.pid

    def _wait_until_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        seen = b""
        try:
            while time.monotonic() < deadline:
                if not selector.select(timeout=0.1):
                    if self.process.poll() is not None:
                        break
                    continue
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
                match = READY_LINE.search(seen)
                if match:
                    self.output = seen
                    return int(match.group(2))
        finally:
            selector.close()
        self.stop()
        raise RuntimeError(f"{self.command[0]} did not print its ready line; it printed {seen!r}")

    def stop(self, grace=5.0):
        """SIGTERM by PID, then SIGKILL after `grace`; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        return self.process.returncode
