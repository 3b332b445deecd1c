"""The pieces of a final/deploy/ deployment, started and driven from a test:
demo_app backends, nginx on final/deploy/nginx.conf.in, redis-server, and
client load. Shared by final_deploy_test.py (what the deployment promises)
and final_fault_test.py (what it does when a part fails).

    directory = make_directory("final_fault_")
    deployment = Deployment(program, directory, Redis())
    deployment.redis.start()
    deployment.start_backends()                     # a and b, --xheaders --redis
    deployment.nginx = Nginx(directory, [b.port for b in deployment.backends], UPSTREAM_OPTIONS)
    deployment.nginx.start()
    with Load(deployment.nginx.port) as load:       # client threads until the block ends
        ...
    deployment.stop()                               # every process, by its PID

Everything listens on 127.0.0.1 on a free port. Every wait is bounded
(TIMEOUT unless said otherwise). A failed expectation raises
checks.CheckFailed. Standard library only.
"""
import collections
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

from checks import CheckFailed, expect, expect_equal
from serverproc import ServerProcess, children_of

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(REPOSITORY, "final", "deploy", "nginx.conf.in")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
EXIT_SKIPPED = 77      # what CTest and automake take for "skipped"

TIMEOUT = 5.0          # the longest any single exchange or start-up may take
# Each backend's line in the upstream block. nginx leaves a failed backend out
# for fail_timeout (10 s by default); 2 s here, so that a restarted backend
# gets requests again soon enough for a test.
FAIL_TIMEOUT = 2
UPSTREAM_OPTIONS = " max_fails=1 fail_timeout=%ds" % FAIL_TIMEOUT
REDIS_READY = "messages go through Redis"   # demo_app logs it once subscribed
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Every error page nginx writes itself (a 502 when no backend answered, a 413
# for a body over client_max_body_size) ends with "<hr><center>nginx/1.22.1
# </center>". A backend's error page, passed on as it is, never has it. The
# Server header cannot tell them apart: nginx replaces the backend's with its
# own on every response.
NGINX_ERROR_PAGE = b"<hr><center>nginx"


# --- processes and sockets ----------------------------------------------------

def free_port():
    """A port nothing listens on now, for the programs that cannot pick their
    own and print it (nginx, redis-server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_directory(prefix):
    """A new temporary directory for a deployment's files, which nginx's
    workers can enter: started as root, nginx runs them as nobody, and their
    temporary files are there."""
    directory = tempfile.mkdtemp(prefix=prefix)
    os.chmod(directory, 0o755)
    return directory


def wait_until(condition, timeout, pause=0.05):
    """Calls condition until it returns something true, for at most timeout
    seconds; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(pause)


def wait_for_port(port, process, timeout=TIMEOUT):
    def accepts():
        expect(process.poll() is None, "exited with status %s" % process.poll())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return True
        except OSError:
            return False
    expect(wait_until(accepts, timeout), "nothing accepts on port %d after %.0f s" % (port, timeout))


def stop_process(process, signum=signal.SIGTERM, grace=TIMEOUT):
    """Stops a process we started (a subprocess.Popen), by its PID: signum,
    then SIGKILL after grace seconds. True if it had to be killed."""
    if process is None or process.poll() is not None:
        return False
    process.send_signal(signum)
    try:
        process.wait(timeout=grace)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True


def kill_leftovers(pids):
    """SIGKILL to the processes of ours still there (the children of one we
    had to kill: nobody else would stop them)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def gone(pid):
    """Whether a process has ended: no longer in /proc, or a zombie (dead,
    waiting for its parent to collect its status)."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            # "pid (name) state ...": the name may hold spaces.
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def catches_sigterm(pid):
    """Whether the process has its SIGTERM handler installed. demo_app prints
    its ready line only once it has (it once printed it before, and a SIGTERM
    sent at once killed it the default way, with no graceful stop): the
    checks that send one make sure first."""
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


def tcp_sockets():
    """The rows of /proc/net/tcp as (local, remote, state, inode); addresses
    as the kernel writes them: 127.0.0.1:8000 is "0100007F:1F40"."""
    with open("/proc/net/tcp") as table:
        next(table)  # the column names
        return [(fields[1], fields[2], fields[3], fields[9]) for fields in map(str.split, table)]


def loopback(port):
    return "0100007F:%04X" % port


LISTEN, ESTABLISHED = "0A", "01"


def listening_socket_inodes(port):
    """The inodes of the TCP sockets listening on 127.0.0.1:port: one, or
    one per process with SO_REUSEPORT."""
    return {inode for local, _, state, inode in tcp_sockets()
            if state == LISTEN and local == loopback(port)}


def listening_socket_inode(port):
    """The inode of the TCP socket listening on 127.0.0.1:port."""
    return min(listening_socket_inodes(port), default=None)


def open_connections_to(port):
    """How many TCP connections to 127.0.0.1:port are established now,
    counted from their client side."""
    return sum(1 for _, remote, state, _ in tcp_sockets()
               if state == ESTABLISHED and remote == loopback(port))


def socket_inodes(pid):
    """The inodes of the sockets among a process's file descriptors."""
    inodes = set()
    for path in glob.glob("/proc/%d/fd/*" % pid):
        try:
            target = os.readlink(path)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def has_redis_option(program):
    done = subprocess.run([program, "--help"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=TIMEOUT)
    return "--redis" in done.stdout.decode("utf-8", "replace")


# --- HTTP ---------------------------------------------------------------------

class Response:
    def __init__(self, status, body):
        self.status = status
        self.body = body

    def json(self):
        return json.loads(self.body)


def http_request(port, method, path, body=None, headers=None, timeout=TIMEOUT, source=None):
    """One request on a connection of its own. source: the client's address
    (bound before connecting), e.g. "127.0.0.2"."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                            source_address=(source, 0) if source else None)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return Response(answer.status, answer.read())
    finally:
        connection.close()


def answered_by(body):
    """Who wrote a response that came through nginx: "nginx" for one of
    nginx's own error pages, else "backend"."""
    return "nginx" if NGINX_ERROR_PAGE in body else "backend"


def post_message(port, text):
    r = http_request(port, "POST", "/chat/new", urllib.parse.urlencode({"body": text}).encode(), FORM)
    expect_equal(r.status, 200, "POST /chat/new status")
    return r.json()


def chat_updates(port, cursor, timeout=TIMEOUT):
    r = http_request(port, "POST", "/chat/updates", urllib.parse.urlencode({"cursor": cursor}).encode(),
                     FORM, timeout=timeout)
    expect_equal(r.status, 200, "POST /chat/updates status")
    return r.json()["messages"]


class LongPoll:
    """POST /chat/updates in a thread of its own: it waits for a message."""

    def __init__(self, port, cursor, timeout=3 * TIMEOUT):
        self.result = {}
        self.thread = threading.Thread(target=self._poll, args=(port, cursor, timeout), daemon=True)
        self.thread.start()

    def _poll(self, port, cursor, timeout):
        try:
            self.result["messages"] = chat_updates(port, cursor, timeout)
        except Exception as error:  # reported by messages()
            self.result["error"] = error

    def waiting(self):
        return self.thread.is_alive()

    def messages(self, timeout=TIMEOUT):
        self.thread.join(timeout)
        expect(not self.thread.is_alive(), "the long poll did not answer within %.0f s" % timeout)
        expect("error" not in self.result, "the long poll failed: %r" % self.result.get("error"))
        return self.result["messages"]


# --- the processes ------------------------------------------------------------

# Tornado's access log line: "[I 261123 16:33:41 web:452] 200 GET /?a=1 (127.0.0.1) 0.52ms"
ACCESS_LINE = re.compile(r"\] (\d{3}) ([A-Z]+) (\S+) \(([^)]*)\) [0-9.]+ms$", re.M)


class Backend:
    """One demo_app (behind nginx, or on its own), its stderr (the access log)
    in a file that outlives restarts."""

    def __init__(self, name, program, directory, args):
        self.name = name
        self.program = program
        self.args = args
        self.log_path = os.path.join(directory, name + ".log")
        self.server = None
        self.port = 0

    @property
    def pid(self):
        return self.server.pid

    @property
    def process(self):
        return self.server.process

    def running(self):
        return self.server is not None and self.process.poll() is None

    def start(self, redis_port=None):
        """Starts it on its port (a free one the first time); with Redis, waits
        until it has subscribed, or a message posted at once would stay in
        this process."""
        args = list(self.args)
        if self.port:
            args.append("--port=%d" % self.port)  # after ServerProcess's --port=0: the last one counts
        if redis_port:
            args.append("--redis=127.0.0.1:%d" % redis_port)
        subscribed_before = self.log_text().count(REDIS_READY)
        with open(self.log_path, "ab") as log:
            self.server = ServerProcess(self.program, *args, stderr=log)
            self.server.__enter__()
        self.port = self.server.port
        if redis_port and not wait_until(lambda: self.log_text().count(REDIS_READY) > subscribed_before,
                                         TIMEOUT):
            raise CheckFailed("%s did not log %r within %.0f s" % (self.name, REDIS_READY, TIMEOUT))

    def stop(self):
        if self.server is not None:
            self.server.stop()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as log:
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def requests(self):
        """(status, method, uri, remote_ip) of each request it logged."""
        return ACCESS_LINE.findall(self.log_text())

    def count(self, method, uri):
        return sum(1 for _, m, u, _ in self.requests() if (m, u) == (method, uri))


def fill(template, values):
    """The template with each placeholder replaced by its value, outside
    comments: the template's header names the placeholders too."""
    lines, used = [], set()
    for line in template.splitlines(keepends=True):
        if not line.lstrip().startswith("#"):
            for placeholder, value in values.items():
                if placeholder in line:
                    used.add(placeholder)
                    line = line.replace(placeholder, value)
            left = re.findall(r"@[A-Z_]+@", line)
            expect(not left, "a placeholder the test does not know: %s" % ", ".join(left))
        lines.append(line)
    unused = set(values) - used
    expect(not unused, "placeholders not in the template: %s" % ", ".join(sorted(unused)))
    return "".join(lines)


class Nginx:
    """nginx with final/deploy/nginx.conf.in filled in for a directory of its
    own: one "server 127.0.0.1:PORT{server_options};" per upstream port, the
    whole of it on one CPU when `cpu` is given (tests/bench/deploy_bench.py).
    It keeps its port across stop and start."""

    def __init__(self, directory, upstream_ports, server_options="", cpu=None):
        self.directory = directory
        self.port = free_port()
        self.config = os.path.join(directory, "nginx.conf")
        self.cpu = cpu
        self.process = None
        with open(TEMPLATE) as template:
            text = template.read()
        servers = "\n        ".join("server 127.0.0.1:%d%s;" % (port, server_options)
                                    for port in upstream_ports)
        values = {"@PREFIX@": directory, "@LISTEN@": "127.0.0.1:%d" % self.port,
                  "@UPSTREAM_SERVERS@": servers}
        with open(self.config, "w") as config:
            config.write(fill(text, values))

    def command(self, *extra):
        # -p: relative paths and the default pid and lock files under our
        # directory; -e: where nginx logs before it has read error_log.
        command = [NGINX, "-p", self.directory + "/", "-c", self.config,
                   "-e", os.path.join(self.directory, "error.log"), *extra]
        return command if self.cpu is None else ["taskset", "-c", str(self.cpu)] + command

    def test_config(self):
        """nginx -t: (exit status, what it said)."""
        done = subprocess.run(self.command("-t"), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=TIMEOUT)
        return done.returncode, done.stdout.decode("utf-8", "replace")

    def start(self):
        self.process = subprocess.Popen(self.command("-g", "daemon off;"), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, self.process)
        except CheckFailed as failure:
            raise CheckFailed("nginx: %s; its error log: %s" % (failure, self.error_log()[-600:]))

    def reload(self):
        """nginx -s reload: a new process reads the pid file named in the
        configuration and sends the master SIGHUP. The master rereads the
        file, starts new workers and tells the old ones to finish what they
        are doing and exit. Returns what nginx -s said, if it failed."""
        done = subprocess.run(self.command("-s", "reload"), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
        expect(done.returncode == 0, "nginx -s reload: status %d: %s"
               % (done.returncode, done.stdout.decode("utf-8", "replace").strip()))

    def workers(self):
        return children_of(self.process.pid)

    def pids(self):
        """The master's and its workers' (once it has forked them)."""
        return [self.process.pid] + self.workers()

    def stop(self, signum=signal.SIGTERM):
        """Stops nginx by its master's PID: SIGTERM is the fast shutdown,
        SIGQUIT the graceful one (requests in progress are finished). If it
        has to be killed, its workers are killed too, by their PIDs. Returns
        the master's exit status."""
        if self.process is None:
            return None
        workers = self.workers()
        if stop_process(self.process, signum):
            kill_leftovers(workers)
        return self.process.returncode

    def error_log(self):
        try:
            with open(os.path.join(self.directory, "error.log")) as log:
                return log.read()
        except FileNotFoundError:
            return ""


class Redis:
    """redis-server on a free port, kept across stop and start, with nothing
    saved to disk."""

    def __init__(self):
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        expect(wait_until(self.answers_ping, TIMEOUT), "redis-server does not answer PING")

    def answers_ping(self):
        expect(self.process.poll() is None, "redis-server exited with status %s" % self.process.poll())
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as redis:
                redis.sendall(b"PING\r\n")
                return redis.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        stop_process(self.process)
        return None if self.process is None else self.process.returncode


class Deployment:
    """What the checks see: nginx, the two backends (a and b), Redis (or None)."""

    def __init__(self, program, directory, redis):
        self.program = program
        self.directory = directory
        self.redis = redis
        self.backends = [Backend(name, program, directory, ["--xheaders"]) for name in ("a", "b")]
        self.nginx = None

    @property
    def redis_port(self):
        return self.redis.port if self.redis else None

    def start_backends(self):
        for backend in self.backends:
            backend.start(self.redis_port)

    def get(self, path, **options):
        return http_request(self.nginx.port, "GET", path, **options)

    def served_through_nginx(self, backend, timeout=FAIL_TIMEOUT + 3):
        """Sends GET / through nginx until backend logs one: true if it did
        within timeout (nginx tries a failed backend again after fail_timeout)."""
        before = backend.count("GET", "/")

        def served():
            expect_equal(self.get("/").status, 200, "GET / through nginx")
            return backend.count("GET", "/") > before
        return wait_until(served, timeout, pause=0.1)

    def revive(self, backend):
        """Starts a stopped backend again on its port; waits until nginx sends
        it requests again."""
        if not backend.running():
            backend.start(self.redis_port)
        expect(self.served_through_nginx(backend),
               "backend %s (port %d) served nothing through nginx within %.0f s"
               % (backend.name, backend.port, FAIL_TIMEOUT + 3))

    def stop(self):
        for part in [self.nginx, *self.backends, self.redis]:
            if part is not None:
                part.stop()


# --- load ---------------------------------------------------------------------

# One request of a Load. outcome: the status, or the error's type and text.
# connection: "new" (opened for this request) or "kept" (a keep-alive
# connection's later request). retried: it was sent a second time, on a new
# connection, because the kept one was closed before any answer came.
# answered_by: "nginx" or "backend" (see answered_by()), None without answer.
Record = collections.namedtuple("Record", "started ended path outcome connection retried answered_by")

# Errors that mean a kept connection was closed by the server before it read
# our request (it was idle, and the server closed it as we sent). A client
# may then send an idempotent request again on a new connection (RFC 9112,
# 9.3.1): browsers do, and so does Load. http.client's RemoteDisconnected
# (closed before the status line) is a ConnectionResetError.
CLOSED_BEFORE_ANSWER = (ConnectionResetError, BrokenPipeError)


class Load:
    """Client threads sending GET requests to a port (nginx, or a backend),
    one request after the other, taking `paths` in turn (by default GET /
    and GET /sleep?ms=50, so that some requests are always in progress):
    `threads` threads each on a new connection per request, and `keep_alive`
    threads that keep their connection open from one request to the next.
    Every request's start, end and outcome is kept in `records`; `reopened`
    counts the times a keep-alive thread had to open a new connection because
    the server had closed its kept one. `pause`: seconds each thread waits
    between two requests (a steady load, not the most the machine can send)."""

    PATHS = ("/", "/sleep?ms=50")
    PAUSE_AFTER_ERROR = 0.02   # a refused connection comes back at once: no busy loop

    def __init__(self, port, threads=4, keep_alive=0, pause=0.0, paths=PATHS):
        self.port = port
        self.pause = pause
        self.paths = paths
        self.records = []
        self.reopened = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(index, False), daemon=True)
                        for index in range(threads)]
        self.threads += [threading.Thread(target=self._run, args=(index, True), daemon=True)
                         for index in range(threads, threads + keep_alive)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(TIMEOUT + 1)

    def _run(self, index, keep_alive):
        connection = None
        opened = 0
        count = index
        while not self.stopping.is_set():
            path = self.paths[count % len(self.paths)]
            count += 1
            started = time.monotonic()
            kind, retried, by = "new", False, None
            try:
                if not keep_alive:
                    answer = http_request(self.port, "GET", path)
                    status, by = answer.status, answered_by(answer.body)
                else:
                    if connection is None:
                        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
                    # http.client opens the socket at the first request and
                    # again after the server closed it: sock says which.
                    kind = "new" if connection.sock is None else "kept"
                    if kind == "new":
                        opened += 1
                        if opened > 1:
                            with self.lock:
                                self.reopened += 1
                    try:
                        status, body = self._exchange(connection, path)
                    except CLOSED_BEFORE_ANSWER:
                        if kind == "new":
                            raise
                        connection.close()
                        retried = True
                        status, body = self._exchange(connection, path)
                    by = answered_by(body)
                outcome = status
            except Exception as error:
                outcome = "%s: %s" % (type(error).__name__, error)
                if connection is not None:
                    connection.close()
            with self.lock:
                self.records.append(Record(started, time.monotonic(), path, outcome, kind, retried, by))
            if outcome != 200:
                time.sleep(self.PAUSE_AFTER_ERROR)
            if self.pause:
                time.sleep(self.pause)
        if connection is not None:
            connection.close()

    @staticmethod
    def _exchange(connection, path):
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read()

    def between(self, start, end):
        """The requests that were in progress at some moment from start to
        end: started before end, ended after start."""
        return [r for r in self.records if r.started < end and r.ended >= start]

    def failures(self, records=None):
        return [r for r in (self.records if records is None else records) if r.outcome != 200]


def describe(records, most=3):
    """The first few records as "path -> outcome", for a failure's message."""
    return "; ".join("%s -> %s%s" % (r.path, r.outcome, " (from %s)" % r.answered_by if r.answered_by else "")
                     for r in records[:most])


def tally(records):
    """How many records had each outcome, e.g. "812 x 200, 3 x ConnectionRefusedError"."""
    counts = collections.Counter(str(r.outcome).split(":")[0] for r in records)
    return ", ".join("%d x %s" % (n, outcome) for outcome, n in counts.most_common()) or "none"
