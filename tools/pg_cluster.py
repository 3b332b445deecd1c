#!/usr/bin/env python3
"""A private PostgreSQL cluster in one directory, for tests, benchmarks and
`make run RUN_TARGET=blog`: Debian's own server (initdb, postgres), started
on a unix socket in that directory and on 127.0.0.1 at a free port, stopped
by its PID.

    pg_cluster.py start DIR [--port N] [--no-tls] [-c NAME=VALUE ...]   # prints the dsn
    pg_cluster.py dsn DIR                                     # the dsn again
    pg_cluster.py stop DIR [--remove]
    pg_cluster.py run DIR [-c NAME=VALUE ...] -- COMMAND ...  # start, run, stop, remove

start makes the cluster if DIR holds none (initdb, about 2 s), stops one
left running there by an earlier run, starts it (under a second), and
writes the dsn to DIR/dsn: "host=DIR port=N user=postgres dbname=postgres",
which libpq reads as the unix socket DIR/.s.PGSQL.N; with host=127.0.0.1
and the same port it is TCP. With TLS (the default) the server has a
certificate made for it (DIR/server.crt, for localhost and 127.0.0.1), so
`sslmode=require` works over TCP. `run` sets PGHOST, PGPORT, PGUSER and
PGDATABASE (and TORNADO_POSTGRES_DSN) for COMMAND.

The server refuses to run as root: as root, the cluster belongs to the
`postgres` user that Debian's package makes, and its programs run as that
user (runuser). Settings are for throwaway data: fsync and synchronous
commit off. Standard library only; also imported by the tests.
"""
import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from certificate import make_certificate  # noqa: E402

START_TIMEOUT = 30      # seconds pg_ctl waits for the server to accept connections
STOP_TIMEOUT = 15       # seconds a fast shutdown may take before SIGKILL
PORT_TRIES = 3          # free ports tried when the one found is taken before the server binds it
# Throwaway data, many test connections at once.
SETTINGS = ["fsync=off", "synchronous_commit=off", "full_page_writes=off",
            "max_connections=300", "log_min_messages=warning",
            "log_line_prefix=%m [%p] "]


class ClusterError(Exception):
    pass


def server_bin():
    """Debian keeps each major version's server programs apart; the newest."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0)
    if not found:
        raise ClusterError("PostgreSQL's server is not installed (Debian: postgresql; "
                           "tools/install-deps.sh build installs it)")
    return os.path.dirname(found[-1])


def as_owner(command):
    """command, run as the cluster's owner: `postgres` when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + command
    return command


def chown_to_owner(path):
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_pid(directory):
    """The postmaster's PID from its lock file, if it is running."""
    try:
        with open(os.path.join(directory, "data", "postmaster.pid")) as lock:
            pid = int(lock.readline())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def make_server_certificate(directory):
    """The server's certificate, where postgresql.conf names it, readable by
    the cluster's owner alone."""
    certificate, key = make_certificate(directory, "server.crt", "server.key", days=30)
    os.chmod(key, 0o600)
    chown_to_owner(key)
    chown_to_owner(certificate)


def start(directory, tls=True, settings=(), port=None):
    """Makes (if needed) and starts the cluster in directory, on `port` (a
    free one if None); returns its dsn."""
    directory = os.path.abspath(directory)
    binaries = server_bin()
    stop(directory)
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    chown_to_owner(directory)
    data = os.path.join(directory, "data")
    if not os.path.exists(os.path.join(data, "PG_VERSION")):
        shutil.rmtree(data, ignore_errors=True)
        result = subprocess.run(as_owner([os.path.join(binaries, "initdb"), "-D", data,
                                          "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                                          "--auth=trust", "--no-sync"]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise ClusterError("initdb failed: " + result.stderr.strip())
    if tls and not os.path.exists(os.path.join(directory, "server.crt")):
        make_server_certificate(directory)
    # A port found free may be taken before the server binds it (by a
    # client's connect() in a test running beside us): then another one.
    tries = 1 if port else PORT_TRIES
    for attempt in range(tries):
        chosen = port or free_port()
        failure = start_server(binaries, directory, chosen, tls, settings)
        if failure is None:
            port = chosen
            break
        if "could not create any TCP/IP sockets" not in failure or attempt == tries - 1:
            raise ClusterError("the server did not start: " + failure)
    dsn = "host=%s port=%d user=postgres dbname=postgres" % (directory, port)
    with open(os.path.join(directory, "dsn"), "w") as out:
        out.write(dsn + "\n")
    return dsn


def start_server(binaries, directory, port, tls, settings):
    """pg_ctl start on `port`; None once it accepts connections, else
    pg_ctl's complaint and the log's last lines."""
    options = ["-k", directory, "-p", str(port), "-c", "listen_addresses=127.0.0.1"]
    if tls:
        options += ["-c", "ssl=on",
                    "-c", "ssl_cert_file=" + os.path.join(directory, "server.crt"),
                    "-c", "ssl_key_file=" + os.path.join(directory, "server.key")]
    for setting in list(SETTINGS) + list(settings):
        options += ["-c", setting]
    log = os.path.join(directory, "log")
    result = subprocess.run(as_owner([os.path.join(binaries, "pg_ctl"), "-D",
                                      os.path.join(directory, "data"), "-l", log,
                                      "-w", "-t", str(START_TIMEOUT), "-o",
                                      " ".join(quote_option(option) for option in options),
                                      "start"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode == 0:
        return None
    tail = ""
    if os.path.exists(log):
        with open(log) as lines:
            tail = "".join(lines.readlines()[-5:])
    return result.stderr.strip() + "\n" + tail


def quote_option(option):
    """One word of pg_ctl -o, which a shell splits again."""
    return "'" + option.replace("'", "'\\''") + "'"


def dsn_of(directory):
    with open(os.path.join(os.path.abspath(directory), "dsn")) as dsn:
        return dsn.read().strip()


def stop(directory, remove=False):
    """Stops the server by its PID (a fast shutdown: SIGINT, then SIGKILL
    if it lingers); removes the directory if asked."""
    directory = os.path.abspath(directory)
    pid = server_pid(directory)
    if pid is not None:
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and server_pid(directory) == pid:
            time.sleep(0.05)
        if server_pid(directory) == pid:
            os.kill(pid, signal.SIGKILL)
    if remove:
        shutil.rmtree(directory, ignore_errors=True)


def watch_owner(directory, owner):
    """Stops and removes the cluster once process `owner` is gone, from a
    detached child: a test program killed at its timeout (SIGKILL runs no
    destructor) must not leave its server running."""
    if os.fork() != 0:
        return
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while True:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    stop(directory, remove=True)
    os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop", "dsn", "run"])
    parser.add_argument("directory")
    parser.add_argument("--no-tls", action="store_true")
    parser.add_argument("--port", type=int, help="start: this port (a free one if not given)")
    parser.add_argument("--remove", action="store_true", help="stop: remove the directory too")
    parser.add_argument("--owner", type=int, metavar="PID",
                        help="start: stop and remove the cluster once this process is gone")
    parser.add_argument("-c", dest="settings", action="append", default=[],
                        metavar="NAME=VALUE", help="a server setting")
    # run's COMMAND is everything after "--", apart from the options.
    argv = sys.argv[1:]
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    arguments = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    try:
        if arguments.action == "start":
            print(start(arguments.directory, not arguments.no_tls, arguments.settings,
                        arguments.port), flush=True)
            if arguments.owner:
                watch_owner(arguments.directory, arguments.owner)
        elif arguments.action == "dsn":
            print(dsn_of(arguments.directory))
        elif arguments.action == "stop":
            stop(arguments.directory, arguments.remove)
        else:
            if not command:
                parser.error("run: give a command after --")
            dsn = start(arguments.directory, not arguments.no_tls, arguments.settings)
            fields = dict(field.split("=", 1) for field in dsn.split())
            environment = dict(os.environ, PGHOST=fields["host"], PGPORT=fields["port"],
                               PGUSER=fields["user"], PGDATABASE=fields["dbname"],
                               TORNADO_POSTGRES_DSN=dsn)
            try:
                return subprocess.call(command, env=environment)
            finally:
                stop(arguments.directory, remove=True)
    except ClusterError as error:
        print("pg_cluster.py: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
