"""The gRPC example (final/examples/grpc) called by a gRPC client we did not write.

    /usr/bin/python3 tests/clients/final_grpc_test.py --bin build/bin \
        --stubs build/final/examples/grpc/python

Debian's python3-grpcio calls build/bin/final_grpc, in cleartext (h2c by
prior knowledge, as grpcio's insecure channel does) and over TLS (h2 by
ALPN), through the stubs grpc-tools made from numbers.proto at build time:
each of gRPC's four kinds of method, errors as gRPC status codes in
trailers, a deadline that stops the handler, a client that cancels, limits
on messages. And curl for what is not gRPC (another content-type, HTTP/1.1).
Every server is started here on 127.0.0.1 and stopped by its PID.
"""
import argparse
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import CheckFailed, expect, expect_equal, run_check  # noqa: E402
from final_tls_test import Certificates  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

TIMEOUT = 10  # seconds a call may take before the test calls it hung


def expect_status(call, code, details_part=""):
    """Runs `call`, which must fail with gRPC status `code`; returns the error."""
    try:
        call()
    except grpc.RpcError as error:
        expect_equal(error.code(), code, "the call's status")
        expect(details_part in (error.details() or ""),
               "grpc-message %r names %r" % (error.details(), details_part))
        return error
    raise CheckFailed("the call succeeded; %s was expected" % code)


def unary(numbers):
    expect_equal(numbers.Square(pb.Number(value=12), timeout=TIMEOUT).value, 144, "Square(12)")
    expect_equal(numbers.Square(pb.Number(value=-3037000499), timeout=TIMEOUT).value,
                 3037000499 ** 2, "Square of the largest number it takes")


def server_streaming(numbers):
    values = [n.value for n in numbers.CountTo(pb.Count(to=2000), timeout=TIMEOUT)]
    expect_equal(values, list(range(1, 2001)), "CountTo(2000)'s messages, in order")
    expect_equal([n.value for n in numbers.CountTo(pb.Count(to=0), timeout=TIMEOUT)], [],
                 "CountTo(0): no message, and status OK")


def client_streaming(numbers):
    # 10,000 messages (80 KB): more than the server's stream window (64 KiB) holds,
    # so the client waits for the server's WINDOW_UPDATEs on the way.
    total = numbers.Sum(iter([pb.Number(value=i) for i in range(10000)]), timeout=TIMEOUT)
    expect_equal(total.value, sum(range(10000)), "Sum of 0..9999")
    expect_equal(numbers.Sum(iter([]), timeout=TIMEOUT).value, 0, "Sum of no message")


def bidirectional_in_turn(numbers):
    """The client sends a number only once it has the total for the one
    before: a server that answered only after the client's last message
    would leave this waiting (and the test fails at the queue's timeout)."""
    totals = queue.Queue()
    seen = []

    def requests():
        for value in (1, 2, 3, 4, 5):
            yield pb.Number(value=value)
            seen.append(totals.get(timeout=TIMEOUT))

    for answer in numbers.RunningTotal(requests(), timeout=TIMEOUT):
        totals.put(answer.value)
    expect_equal(seen, [1, 3, 6, 10, 15], "each total before the next number was sent")


def errors_are_grpc_statuses(channel, numbers):
    expect_status(lambda: numbers.Square(pb.Number(value=3037000500), timeout=TIMEOUT),
                  grpc.StatusCode.OUT_OF_RANGE, "does not fit in 64 bits")
    raw = channel.unary_unary("/numbers.Numbers/Square")  # bytes in, bytes out
    expect_status(lambda: raw(b"\xff\xff\xff", timeout=TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT,
                  "does not parse")
    expect_status(lambda: channel.unary_unary("/numbers.Numbers/Divide")(b"", timeout=TIMEOUT),
                  grpc.StatusCode.UNIMPLEMENTED, "/numbers.Numbers/Divide")
    two = channel.stream_unary("/numbers.Numbers/Square")
    expect_status(lambda: two(iter([b"", b""]), timeout=TIMEOUT), grpc.StatusCode.INTERNAL,
                  "more than one request message")
    # Over gRPC's 4 MiB limit for a message received: refused, not read.
    big = channel.stream_unary("/numbers.Numbers/Sum")
    expect_status(lambda: big(iter([b"\x08" * (5 * 1024 * 1024)]), timeout=TIMEOUT),
                  grpc.StatusCode.RESOURCE_EXHAUSTED, "over the limit")


def a_deadline_stops_the_handler(numbers, server_log):
    """100 numbers 50 ms apart take 5 s; the client allows 0.5 s. The call
    ends with DEADLINE_EXCEEDED about then, and the handler stops: its next
    send fails quietly (no error in the server's log)."""
    received = []
    started = time.monotonic()

    def call():
        for number in numbers.CountTo(pb.Count(to=100, interval_ms=50), timeout=0.5):
            received.append(number.value)

    expect_status(call, grpc.StatusCode.DEADLINE_EXCEEDED)
    elapsed = time.monotonic() - started
    expect(elapsed < 3, "the call ended %.2f s after it began, with a deadline of 0.5 s" % elapsed)
    expect(len(received) < 20, "%d numbers came before the deadline (at most 11 fit in 0.5 s)" % len(received))
    time.sleep(0.3)  # the handler's next send comes after the deadline
    log = server_log()
    expect("Uncaught" not in log and "Exception" not in log, "the server logged no error: %r" % log[-400:])


def a_cancelled_call_leaves_the_server_serving(numbers, server_log):
    call = numbers.CountTo(pb.Count(to=1000, interval_ms=10), timeout=TIMEOUT)
    first = [next(call).value for _ in range(3)]
    call.cancel()
    expect_equal(first, [1, 2, 3], "the first numbers before the cancel")
    expect_equal(numbers.Square(pb.Number(value=7), timeout=TIMEOUT).value, 49,
                 "the next call on the same channel")
    time.sleep(0.2)
    log = server_log()
    expect("Uncaught" not in log, "the server logged no error: %r" % log[-400:])


def a_call_cancelled_mid_send_leaves_no_error(numbers, server_log):
    """CountTo with no pause between numbers is always sending: a cancel
    closes the stream while a send() waits on it, which then fails with
    the stream's StreamClosedError before the handler hears of the cancel.
    That is the client leaving, not the method's error: nothing in the log."""
    for _ in range(20):
        call = numbers.CountTo(pb.Count(to=1000000, interval_ms=0), timeout=TIMEOUT)
        expect_equal([next(call).value for _ in range(3)], [1, 2, 3], "the first numbers")
        call.cancel()
    expect_equal(numbers.Square(pb.Number(value=7), timeout=TIMEOUT).value, 49,
                 "the next call on the same channel")
    time.sleep(0.2)
    log = server_log()
    expect("Uncaught" not in log, "the server logged no error: %r" % log[-400:])


def many_calls_at_once(numbers):
    """50 calls in flight on one connection (gRPC's channel multiplexes
    them as HTTP/2 streams), each counting slowly."""
    futures = [numbers.Square.future(pb.Number(value=i), timeout=TIMEOUT) for i in range(50)]
    streams = [numbers.CountTo(pb.Count(to=5, interval_ms=20), timeout=TIMEOUT) for _ in range(10)]
    expect_equal([f.result().value for f in futures], [i * i for i in range(50)], "50 squares")
    for stream in streams:
        expect_equal([n.value for n in stream], [1, 2, 3, 4, 5], "a slow count among them")


def a_method_that_cannot_keep_up_holds_the_client_back(port):
    """RunningTotal answers each number before it reads the next. A client
    that opens its own window at zero (SETTINGS_INITIAL_WINDOW_SIZE 0)
    takes no answer, so the method waits in send(), reads nothing more, and
    the messages pile up in the call's inbox: past 256 KiB the server takes
    no more of the body, and the client's window stays shut. Without that
    bound the client could send all 4 MiB into the server's memory."""
    import h2.config
    import h2.connection
    import h2.settings
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        client.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        client.initiate_connection()
        stream = client.get_next_available_stream_id()
        client.send_headers(stream, [(":method", "POST"), (":path", "/numbers.Numbers/RunningTotal"),
                                     (":scheme", "http"), (":authority", "127.0.0.1"),
                                     ("content-type", "application/grpc"), ("te", "trailers")])
        message = b"\x00\x00\x00\x00\x02\x08\x01"  # a Number, value 1, framed
        body = message * (4 * 1024 * 1024 // len(message))
        sent, stalled_since = 0, None
        connection.sendall(client.data_to_send())
        while sent < len(body):
            room = min(client.local_flow_control_window(stream), client.max_outbound_frame_size,
                       len(body) - sent)
            if room > 0:
                client.send_data(stream, body[sent:sent + room])
                connection.sendall(client.data_to_send())
                sent += room
                stalled_since = None
                continue
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1.0:
                break  # no WINDOW_UPDATE for a second: held back
            connection.settimeout(0.2)
            try:
                data = connection.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise CheckFailed("the server closed the connection")
            client.receive_data(data)
            connection.sendall(client.data_to_send())
    # The inbox's 256 KiB (of which each 7-byte message takes 2 and its
    # string's 32), the stream's 64 KiB window, what the loop had read:
    # well under 512 KiB.
    expect(sent < 512 * 1024, "the client sent %d bytes to a method that read none of them" % sent)
    return "held back after %d KiB" % (sent // 1024)


def not_grpc_gets_http_errors(port):
    def curl(*arguments):
        done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", str(TIMEOUT),
                               *arguments], capture_output=True, text=True, timeout=TIMEOUT + 5)
        return done.stdout
    url = "http://127.0.0.1:%d/numbers.Numbers/Square" % port
    expect_equal(curl("--http2-prior-knowledge", "-X", "POST", "-H", "Content-Type: text/plain",
                      "-d", "x", url), "415", "another content-type over HTTP/2")
    expect_equal(curl("--http1.1", "-X", "POST", "-H", "Content-Type: application/grpc", "-d", "x", url),
                 "505", "gRPC over HTTP/1.1")
    expect_equal(curl("--http2-prior-knowledge", url), "405", "GET")


def over_tls(grpc_bin, folder):
    certs = Certificates(folder)
    with open(certs.ca, "rb") as ca:
        credentials = grpc.ssl_channel_credentials(root_certificates=ca.read())
    with ServerProcess(grpc_bin, "--certfile=" + certs.cert, "--keyfile=" + certs.key,
                       stderr=subprocess.DEVNULL) as server:
        # The certificate names localhost: the channel checks it against that.
        with grpc.secure_channel("localhost:%d" % server.port, credentials) as channel:
            numbers = rpc.NumbersStub(channel)
            expect_equal(numbers.Square(pb.Number(value=9), timeout=TIMEOUT).value, 81, "Square over TLS")
            bidirectional_in_turn(numbers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the build's bin folder (final_grpc)")
    parser.add_argument("--stubs", required=True, help="numbers_pb2.py and numbers_pb2_grpc.py")
    options = parser.parse_args()
    global grpc, pb, rpc
    try:
        import grpc
    except ImportError:
        print("FAIL  grpc: python3-grpcio is missing for %s (tools/install-deps.sh build)" % sys.executable)
        return 1
    sys.path.insert(0, options.stubs)
    import numbers_pb2 as pb
    import numbers_pb2_grpc as rpc
    grpc_bin = os.path.join(options.bin, "final_grpc")
    started = time.monotonic()
    results = []
    with tempfile.NamedTemporaryFile(prefix="final_grpc_test.", suffix=".log") as log, \
            ServerProcess(grpc_bin, stderr=log) as server:
        def server_log():
            with open(log.name, errors="replace") as f:
                return f.read()
        with grpc.insecure_channel("127.0.0.1:%d" % server.port) as channel:
            numbers = rpc.NumbersStub(channel)
            checks = [
                ("unary: Square", unary, numbers),
                ("server streaming: CountTo's 2,000 messages", server_streaming, numbers),
                ("client streaming: Sum of 10,000 messages", client_streaming, numbers),
                ("bidirectional: each answer before the next request", bidirectional_in_turn, numbers),
                ("errors reach the client as gRPC statuses", errors_are_grpc_statuses, channel, numbers),
                ("grpc-timeout: DEADLINE_EXCEEDED on time, and the handler stops",
                 a_deadline_stops_the_handler, numbers, server_log),
                ("a call the client cancels leaves the server serving",
                 a_cancelled_call_leaves_the_server_serving, numbers, server_log),
                ("a call cancelled while a message is on its way leaves no error",
                 a_call_cancelled_mid_send_leaves_no_error, numbers, server_log),
                ("60 calls at once on one channel", many_calls_at_once, numbers),
                ("a method that cannot keep up holds the client back (flow control end to end)",
                 a_method_that_cannot_keep_up_holds_the_client_back, server.port),
                ("a request that is not gRPC gets an HTTP status", not_grpc_gets_http_errors, server.port),
            ]
            for name, check, *arguments in checks:
                results.append(run_check(name, lambda _: check(*arguments), None))
    folder = tempfile.mkdtemp(prefix="final_grpc_test.")
    try:
        results.append(run_check("over TLS: h2 by ALPN", lambda _: over_tls(grpc_bin, folder), None))
    finally:
        shutil.rmtree(folder)
    print("summary: %d passed, %d failed (%.1f s)" % (results.count("PASS"), results.count("FAIL"),
                                                     time.monotonic() - started))
    return 0 if results.count("FAIL") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
