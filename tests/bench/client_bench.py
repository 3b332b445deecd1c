#!/usr/bin/env python3
"""The two HTTP clients against the same servers, in the same run:
`make bench-client`.

    python3 tests/bench/client_bench.py --bin build/bin --out build/bench
    python3 tests/bench/client_bench.py --quick      # 1 round of 2 s per run

Each client is build/bin/client_bench (tests/bench/client_bench.cpp) with
--client=simple (AsyncHTTPClient: a connection per fetch, HTTP/1.1) or
--client=curl (CurlAsyncHTTPClient: libcurl, connections kept alive, HTTP/2
where TLS offers it), fetching one URL over and over with 1 or 100 fetches
in flight, for --duration seconds. Two servers, each pinned to core 1 with
the client on core 0 (taskset):

  http    final_hello over plain HTTP/1.1 (it keeps connections alive)
  https   nginx, one worker, TLS 1.3 and HTTP/2 (nginx_tls.conf.in with
          "http2" added), a certificate made for the run

The rounds visit every set-up in turn; a figure is the median round. For
each run: fetches per second, the client's CPU time per fetch (its
rusage), and errors (any answer but 200). Then curl's fetches per second
as a multiple of the simple client's.

Writes OUT/client.md (also printed); exits 0 when every run gave its
figures, 1 when one failed, 77 (CTest's "skipped") when something it needs
is missing (taskset, nginx, openssl, the programs). Standard library only.
"""
import argparse
import os
import statistics
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_bench as bench  # noqa: E402
import tls_bench  # noqa: E402
from certificate import make_certificate  # noqa: E402  (tls_bench put tools/ on the path)
from serverproc import ServerProcess  # noqa: E402 (run_bench put tests/clients on the path)

MISSING = 77
CLIENT_CPU, SERVER_CPU = "0", "1"
CLIENTS = ["simple", "curl"]
CONCURRENCY = [1, 100]


class NginxH2Process(tls_bench.NginxTLSProcess):
    """bench-tls's nginx, HTTP/2 on as well (ALPN offers h2 and http/1.1)."""

    def write_config(self):
        path = super().write_config()
        with open(path) as f:
            text = f.read()
        if " ssl backlog=" not in text:
            raise RuntimeError("nginx_tls.conf.in's listen line changed: cannot add http2")
        with open(path, "w") as f:
            f.write(text.replace(" ssl backlog=", " ssl http2 backlog="))
        return path


def log(message):
    print(message, flush=True)


def run_client(program, client, url, concurrency, seconds, ca_certs):
    command = ["taskset", "-c", CLIENT_CPU, program, "--client=" + client, "--url=" + url,
               "--concurrency=%d" % concurrency, "--seconds=%g" % seconds]
    if ca_certs:
        command.append("--ca_certs=" + ca_certs)
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(command), done.stderr.decode()[-500:]))
    fields = dict(part.split("=") for part in done.stdout.decode().split())
    fetches = int(fields["fetches"])
    return {"rate": fetches / float(fields["seconds"]),
            "cpu_us": 1e6 * float(fields["cpu"]) / max(fetches, 1),
            "errors": int(fields["errors"])}


def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default="build/bin")
    parser.add_argument("--out", default="build/bench")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds of fetching per run (default: 5)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s per run")
    options = parser.parse_args(argv)
    if options.quick:
        options.rounds, options.duration = 1, 2.0
    return options


def missing(options):
    program = os.path.join(options.bin, "client_bench")
    for needed in ["taskset", "openssl", "/usr/sbin/nginx", program,
                   os.path.join(options.bin, "final_hello")]:
        if shutil.which(needed) is None and not os.access(needed, os.X_OK):
            return "%s is missing" % needed
    return None


def table(results):
    lines = ["| server | in flight | simple fetches/s | curl fetches/s | curl / simple "
             "| simple CPU µs/fetch | curl CPU µs/fetch | errors (simple / curl) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (server, concurrency), by_client in results.items():
        simple, curl = by_client["simple"], by_client["curl"]
        lines.append("| %s | %d | %s | %s | %.1fx | %.0f | %.0f | %d / %d |" % (
            server, concurrency, "{:,.0f}".format(simple["rate"]), "{:,.0f}".format(curl["rate"]),
            curl["rate"] / simple["rate"] if simple["rate"] else float("nan"),
            simple["cpu_us"], curl["cpu_us"], simple["errors"], curl["errors"]))
    return "\n".join(lines)


def main(argv):
    options = parse_options(argv)
    why = missing(options)
    if why:
        log("client_bench.py: %s" % why)
        return MISSING
    program = os.path.join(options.bin, "client_bench")
    raw = os.path.join(os.path.abspath(options.out), "raw")
    os.makedirs(raw, exist_ok=True)
    certfile, keyfile = make_certificate(os.path.join(raw, "client-tls"))
    started = time.time()
    rounds = {}  # (server, concurrency, client) -> [run, ...]
    failed = False
    hello = ServerProcess(os.path.join(options.bin, "final_hello"), "--address=127.0.0.1",
                          "--logging=warning", cpu=SERVER_CPU)
    nginx = NginxH2Process("/usr/sbin/nginx", os.path.join(raw, "nginx-h2"), cpu=SERVER_CPU,
                           certfile=certfile, keyfile=keyfile)
    with hello, nginx:
        targets = [("http (final_hello, HTTP/1.1)", "http://127.0.0.1:%d/" % hello.port, ""),
                   ("https (nginx, TLS 1.3, HTTP/2)", "https://localhost:%d/" % nginx.port, certfile)]
        for round_number in range(1, options.rounds + 1):
            for server, url, ca_certs in targets:
                for concurrency in CONCURRENCY:
                    for client in CLIENTS:
                        try:
                            run = run_client(program, client, url, concurrency, options.duration,
                                             ca_certs)
                        except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as error:
                            log("round %d %s %s x%d: failed: %s" % (round_number, server, client,
                                                                   concurrency, error))
                            failed = True
                            continue
                        rounds.setdefault((server, concurrency, client), []).append(run)
                        log("round %d  %-32s x%-3d %-6s %9s fetches/s  %6.0f µs CPU/fetch  errors %d" % (
                            round_number, server, concurrency, client, "{:,.0f}".format(run["rate"]),
                            run["cpu_us"], run["errors"]))
    results = {}
    for (server, concurrency, client), runs in rounds.items():
        median_run = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]
        results.setdefault((server, concurrency), {})[client] = median_run
    complete = {key: value for key, value in results.items() if len(value) == 2}
    report = "\n".join([
        "# The two HTTP clients: AsyncHTTPClient and CurlAsyncHTTPClient (make bench-client)",
        "",
        "Each run fetches one URL for %g s with 1 or 100 fetches in flight; %d round(s), the "
        "set-ups interleaved, medians over the rounds. The client (tests/bench/client_bench.cpp) on "
        "CPU %s, the server on CPU %s (taskset). %s." % (
            options.duration, options.rounds, CLIENT_CPU, SERVER_CPU, libcurl_version()),
        "",
        table(complete),
        "",
        "simple: AsyncHTTPClient, a new connection (and over https a new TLS handshake) per "
        "fetch, HTTP/1.1. curl: CurlAsyncHTTPClient, connections kept alive, HTTP/2 over https "
        "(one connection, the fetches multiplexed on it).",
        "",
        "The run took %.0f s, on %s UTC." % (time.time() - started,
                                             time.strftime("%Y-%m-%d %H:%M", time.gmtime())),
        "",
        "Command: %s" % " ".join(["tests/bench/client_bench.py"] + argv),
    ])
    with open(os.path.join(options.out, "client.md"), "w") as f:
        f.write(report + "\n")
    print(report)
    return 1 if failed or len(complete) != len(results) or not complete else 0


def libcurl_version():
    """libcurl's version, as its curl-config says it ("libcurl 7.88.1")."""
    try:
        return subprocess.run(["curl-config", "--version"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip()
    except OSError:
        return "libcurl (version unknown)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
