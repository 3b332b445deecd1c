#!/usr/bin/env python3
"""Head-of-line blocking under real packet loss: HTTP/2 over TCP against
HTTP/3 over QUIC (part of `make bench-http3`; chapter 10's "What HTTP/3
changes", measured).

    python3 tests/bench/loss_bench.py --bin build/bin --out build/bench
    python3 tests/bench/loss_bench.py --quick            # 2 rounds at 0 and 5% (about 20 s)
    python3 tests/bench/loss_bench.py --loss 0,1,2,5 --rounds 10

The page: RESOURCES small files (8 KiB each) and one large one (512 KiB),
all asked for at once on ONE connection, as a browser asks for a page's
images, scripts and styles. The figure is the time to the last resource
(the client's "finished in", from its first packet: the handshakes
included).

Both run in a network namespace the script makes (`ip netns add`, its own
loopback), where Debian's nftables drops a share of the packets at random
on their way in (`numgen random mod 100 < N drop`, on the loopback's input
hook, which each packet crosses once per direction). This kernel has no
netem; the drop rule is the same for TCP and UDP, so both protocols lose
the same share of their packets. Only addresses inside that namespace are
loaded.

  h2  final/'s demo_app --http2 over TLS (ALPN h2), loaded by h2load -c 1
      -m 100 with the page's URLs (each fetched once)
  h3  final/'s HTTP/3 over QUIC from the same demo_app (--http3, UDP on the
      same port), loaded by h3_load -c 1 -m 100 (tests/bench/h3_load.cpp)
      with the same URLs; or, with --h3-server gtlsserver, ngtcp2's example
      server (Debian's ngtcp2-server) on the same files.

What the figures should show, and why: TCP delivers bytes in order, so a
lost segment holds every stream's later bytes in the kernel until it is
sent again (at least one round trip, often a retransmission timeout of
200 ms or more on a connection this short). QUIC orders each stream on its
own: a lost packet holds only the streams it carried. Whichever way they
come out, the figures are reported.

Per loss rate and protocol, --rounds rounds (20; protocols alternating):
the median, the mean (which counts the rounds a loss stalled), the spread
and the failed runs. Writes OUT/loss.md
and OUT/loss.csv, and OUT/loss.png with /usr/bin/python3's matplotlib when
it is there. Exits 0 when every cell got figures, 1 when one failed, 2 on
a bad option or a missing program, 77 (CTest's "skipped") when not root
or a peer is missing.
"""
import argparse
import csv
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from certificate import make_certificate  # noqa: E402
NAMESPACE = "tornado_loss_%d" % os.getpid()
SMALL_BYTES = 8 * 1024
LARGE_BYTES = 512 * 1024
RESOURCES = 60
RUN_TIMEOUT = 60  # seconds for one page load, lost packets and all
# TCP and UDP port of both servers: the namespace has ports of its own,
# so a fixed one is always free in it.
PORT = 18443
FINISHED = re.compile(r"^finished in ([\d.]+)(ms|s|us)", re.M)
SUCCEEDED = re.compile(r"^requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", re.M)


def log(message):
    print(message, flush=True)


# --- the namespace and its loss --------------------------------------------------

def in_namespace(command):
    return ["ip", "netns", "exec", NAMESPACE] + command


def run_checked(command):
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if done.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(command), done.stdout.decode(errors="replace")))


def make_namespace():
    """The namespace, its loopback shaped like a wire, and an empty chain for
    the drop rule. Loopback's own shape would hide the loss: its MTU is 64
    KiB and it passes TCP's and UDP's 64 KiB "super-packets" whole
    (segmentation offload), so one drop would take 44 segments at once.
    With Ethernet's MTU and no offloads, each packet that crosses the
    input hook is one packet of a real network."""
    run_checked(["ip", "netns", "add", NAMESPACE])
    run_checked(in_namespace(["ip", "link", "set", "lo", "mtu", "1500", "up"]))
    run_checked(in_namespace(["ethtool", "-K", "lo", "tso", "off", "gso", "off", "gro", "off"]))
    run_checked(in_namespace(["nft", "add", "table", "inet", "loss"]))
    run_checked(in_namespace(["nft", "add", "chain", "inet", "loss", "input",
                              "{ type filter hook input priority 0; }"]))


def set_loss(percent):
    """Replaces the drop rule: `percent` of the packets on the loopback's
    input are dropped (none for 0)."""
    run_checked(in_namespace(["nft", "flush", "chain", "inet", "loss", "input"]))
    if percent > 0:
        run_checked(in_namespace(["nft", "add", "rule", "inet", "loss", "input", "iif", "lo",
                                  "numgen", "random", "mod", "100", "<", str(percent), "drop"]))


def delete_namespace():
    subprocess.run(["ip", "netns", "del", NAMESPACE], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


# --- the files and the servers ----------------------------------------------------

def make_page(folder):
    """RESOURCES small files and one large one, of bytes that do not
    compress; their URL paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for index in range(RESOURCES):
        name = "small%02d.bin" % index
        with open(os.path.join(folder, name), "wb") as f:
            f.write(os.urandom(SMALL_BYTES))
        paths.append(name)
    with open(os.path.join(folder, "large.bin"), "wb") as f:
        f.write(os.urandom(LARGE_BYTES))
    paths.insert(RESOURCES // 2, "large.bin")  # in the middle of the page
    return paths


def start(command, name):
    process = subprocess.Popen(in_namespace(command), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(0.5)
    if process.poll() is not None:
        raise RuntimeError("%s did not start: %s" % (name, process.stderr.read().decode(errors="replace")))
    return process


def stop(process):
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_servers(options, www, certfile, keyfile, port):
    """final/'s HTTP/2 over TLS on TCP `port`, and the HTTP/3 server on UDP
    `port`, both inside the namespace: one demo_app for both (--http3), or
    demo_app and gtlsserver. Returns the processes and the HTTP/3 URL
    paths' prefix."""
    final_http3 = options.h3_server == "final"
    h2 = start([os.path.join(options.bin, "demo_app"), "--address=127.0.0.1", "--port=%d" % port,
                "--logging=warning", "--http2", "--static_path=" + www,
                "--certfile=" + certfile, "--keyfile=" + keyfile] +
               (["--http3"] if final_http3 else []), "demo_app")
    if final_http3:
        return (h2,), "/static/"
    h3 = start([options.gtlsserver, "-q", "-d", www, "127.0.0.1", str(port), keyfile, certfile],
               "gtlsserver")
    return (h2, h3), "/"


# --- one page load -----------------------------------------------------------------

def page_load(protocol, options, urls):
    """One load of the page on one connection: seconds to the last
    resource, or None (and why) if it failed."""
    if protocol == "h2":
        command = ["h2load", "-c", "1", "-m", "100", "-n", str(len(urls))] + urls
    else:
        command = [os.path.join(options.bin, "h3_load"), "-c", "1", "-m", "100",
                   "-n", str(len(urls)), "-T", str(RUN_TIMEOUT)] + urls
    try:
        done = subprocess.run(in_namespace(command), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT + 10)
    except subprocess.TimeoutExpired:
        return None, "no answer within %d s" % (RUN_TIMEOUT + 10)
    output = done.stdout.decode(errors="replace")
    finished, succeeded = FINISHED.search(output), SUCCEEDED.search(output)
    if not finished or not succeeded:
        return None, "no figures (exit %d): %s" % (done.returncode, output.strip()[-300:])
    if int(succeeded.group(1)) != len(urls):
        return None, "%s of %d succeeded" % (succeeded.group(1), len(urls))
    value, unit = float(finished.group(1)), finished.group(2)
    return value / {"s": 1, "ms": 1e3, "us": 1e6}[unit], None


# --- the report ---------------------------------------------------------------------

def summarise(times):
    """Median, mean and spread in ms. The mean counts the rounds a lost
    packet stalled: what a page costs on average on such a network."""
    if not times:
        return "failed", "", ""
    return ("%.0f" % (statistics.median(times) * 1000), "%.0f" % (statistics.mean(times) * 1000),
            "%.0f–%.0f" % (min(times) * 1000, max(times) * 1000))


def report(options, results, failures):
    lines = ["# Head-of-line blocking under packet loss: HTTP/2 (TCP) against HTTP/3 (QUIC)", "",
             "One connection, %d resources of %d KiB and one of %d KiB asked for at once; "
             "time to the last resource in ms over %d rounds: median, mean, min–max. Loss: nftables "
             "drops that share of the packets on the namespace's loopback, each way." %
             (RESOURCES, SMALL_BYTES // 1024, LARGE_BYTES // 1024, options.rounds), "",
             "| loss | HTTP/2 over TCP (final/): median | mean | spread | HTTP/3 over QUIC (%s): median | mean | spread |" %
             ("final/" if options.h3_server == "final" else options.h3_server),
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for loss in options.loss:
        h2 = summarise(results[(loss, "h2")])
        h3 = summarise(results[(loss, "h3")])
        lines.append("| %d%% | %s | %s | %s | %s | %s | %s |" % ((loss,) + h2 + h3))
    if failures:
        lines += ["", "Failed runs:"] + ["- %s" % failure for failure in failures]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(options.out, exist_ok=True)
    with open(os.path.join(options.out, "loss.md"), "w") as f:
        f.write(text)
    with open(os.path.join(options.out, "loss.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["loss_percent", "protocol", "round", "seconds"])
        for (loss, protocol), times in sorted(results.items()):
            for index, seconds in enumerate(times):
                writer.writerow([loss, protocol, index, "%.6f" % seconds])
    plot(options)


def plot(options):
    """OUT/loss.png, drawn by /usr/bin/python3 (where python3-matplotlib is)."""
    if not os.path.exists("/usr/bin/python3"):
        return
    script = os.path.join(HERE, "plot_loss.py")
    drawn = subprocess.run(["/usr/bin/python3", script, os.path.join(options.out, "loss.csv"),
                            os.path.join(options.out, "loss.png")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if drawn.returncode != 0:
        log("loss_bench: no plot (python3-matplotlib, tools/install-deps.sh bench): " +
            drawn.stdout.decode(errors="replace").strip().splitlines()[-1])


# --- main -----------------------------------------------------------------------------

def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    parser.add_argument("--loss", default="0,1,2,5", help="loss rates in percent")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--h3-server", default="final", choices=["final", "gtlsserver"],
                        help="final/'s demo_app --http3, or ngtcp2's example server")
    parser.add_argument("--quick", action="store_true", help="2 rounds at 0 and 5%% loss")
    options = parser.parse_args(argv)
    if options.quick:
        options.loss, options.rounds = "0,5", 2
    try:
        options.loss = [int(value) for value in options.loss.split(",")]
    except ValueError:
        parser.error("--loss takes whole percentages, such as 0,1,2,5")
    if any(not 0 <= loss < 100 for loss in options.loss) or options.rounds < 1:
        parser.error("--loss between 0 and 99, --rounds at least 1")
    options.gtlsserver = shutil.which("gtlsserver") or "/usr/sbin/gtlsserver"
    return options


def missing_peer(options):
    if os.geteuid() != 0:
        return "a network namespace needs root"
    for program in ("ip", "nft", "ethtool", "h2load", "openssl"):
        if not shutil.which(program):
            return "%s is missing (tools/install-deps.sh build bench)" % program
    if options.h3_server == "gtlsserver" and not os.path.exists(options.gtlsserver):
        return "gtlsserver is missing (Debian's ngtcp2-server)"
    return None


def main(argv):
    options = parse_options(argv)
    for program in ("demo_app", "h3_load"):
        if not os.path.exists(os.path.join(options.bin, program)):
            log("loss_bench: %s is not built in %s" % (program, options.bin))
            return 2
    why = missing_peer(options)
    if why:
        log("loss_bench: skipped: " + why)
        return 77
    work = tempfile.mkdtemp(prefix="tornado_loss_")
    servers = ()
    try:
        www = os.path.join(work, "www")
        paths = make_page(www)
        certfile, keyfile = make_certificate(work)
        make_namespace()
        port = PORT
        servers, h3_prefix = start_servers(options, www, certfile, keyfile, port)
        urls = {"h2": ["https://127.0.0.1:%d/static/%s" % (port, path) for path in paths],
                "h3": ["https://127.0.0.1:%d%s%s" % (port, h3_prefix, path) for path in paths]}
        results, failures = {}, []
        for loss in options.loss:
            set_loss(loss)
            results[(loss, "h2")], results[(loss, "h3")] = [], []
            for round_index in range(options.rounds):
                order = ("h2", "h3") if round_index % 2 == 0 else ("h3", "h2")
                for protocol in order:
                    seconds, why = page_load(protocol, options, urls[protocol])
                    if seconds is None:
                        failures.append("%d%% loss, %s, round %d: %s" % (loss, protocol, round_index + 1, why))
                    else:
                        results[(loss, protocol)].append(seconds)
            log("loss %d%%: h2 %s, h3 %s" % (loss, summarise(results[(loss, "h2")])[0],
                                              summarise(results[(loss, "h3")])[0]))
        report(options, results, failures)
        every_cell = all(results[key] for key in results)
        return 0 if every_cell else 1
    finally:
        for server in servers:
            stop(server)
        delete_namespace()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
