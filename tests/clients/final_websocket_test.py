#!/usr/bin/env python3
"""Black-box checks of final/'s WebSocket, by raw bytes and against
implementations we did not write.

    final_websocket_test.py --bin build/bin     the framework: final_websocket_echo and
                                                final_websocket_client
    final_websocket_test.py --oracle            the raw-byte checks against Python
                                                Tornado 6.2 (tests/bench/tornado_ws_echo.py)

The raw-byte checks send exactly the frames RFC 6455 allows or forbids
(tests/clients/rawws.py) and read what comes back: each broken rule must
earn a close frame with its code, then the end of the TCP connection.
The interoperability checks pair the framework with Debian's
python3-websockets both ways (its client against our server, our client
against its server), with and without permessage-deflate, and our client
with Python Tornado's server. Those need /usr/bin/python3 with websockets
and tornado (tools/install-deps.sh build installs both); without them the
checks fail and say so.

Under --oracle, the checks where Tornado 6.2 is laxer than the RFC (it
accepts unmasked frames, and ends a broken connection without a close
frame) are reported as skipped with what Tornado does instead. One line
per check (PASS / FAIL / SKIPPED), exit status 1 if any failed.
"""
import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawws  # noqa: E402
from rawws import (OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,  # noqa: E402
                   RawWebSocket, close_payload, frame_bytes)
from checks import CheckFailed, expect, expect_equal  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TORNADO_ECHO = os.path.join(REPOSITORY, "tests", "bench", "tornado_ws_echo.py")
SYSTEM_PYTHON = "/usr/bin/python3"
MAX_MESSAGE_SIZE = 10 * 1024 * 1024  # Tornado's default, and ours
TIMEOUT = 10


CHECKS = []


def check(name, tornado_falls_short=None, interop=False):
    """Registers a check. tornado_falls_short: what Tornado 6.2 does instead
    (skipped under --oracle). interop: needs the framework's own client or
    python3-websockets (not run under --oracle)."""
    def register(function):
        CHECKS.append((name, function, tornado_falls_short, interop))
        return function
    return register


class Target:
    def __init__(self, port, bin_dir):
        self.port = port
        self.bin_dir = bin_dir


# --- the handshake -----------------------------------------------------------------------------

@check("Handshake: 101 with the right Sec-WebSocket-Accept, Upgrade and Connection")
def _(t):
    with RawWebSocket(t.port, "/ws/echo") as ws:
        expect_equal(ws.handshake.header("Upgrade").lower(), "websocket", "Upgrade")
        expect_equal(ws.handshake.header("Connection").lower(), "upgrade", "Connection")


@check("Handshake: 'Connection: keep-alive, Upgrade' and 'Upgrade: WebSocket' (as browsers send them)")
def _(t):
    import socket
    with socket.create_connection(("127.0.0.1", t.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive, Upgrade\r\n"
                     b"Upgrade: WebSocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            piece = sock.recv(4096)
            expect(piece, "closed during the handshake")
            head += piece
    expect(head.startswith(b"HTTP/1.1 101"), "status line %r" % head.split(b"\r\n")[0])
    expect(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head, "no Accept value for RFC 6455's example key")


def plain_request(port, request):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        data = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *([0-9]+)", head)
                if length is None or len(body) >= int(length.group(1)):
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    answer = rawws.HandshakeAnswer(head)
    return answer, body


@check("A GET without the upgrade is 400, with Tornado's message")
def _(t):
    answer, body = plain_request(t.port, b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    expect_equal(answer.status, 400, "status")
    expect_equal(body, b'Can "Upgrade" only to "WebSocket".', "body")


@check("Another Sec-WebSocket-Version is 426, naming 13")
def _(t):
    answer, _ = plain_request(t.port, b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                      b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                      b"Sec-WebSocket-Version: 12\r\n\r\n")
    expect_equal(answer.status, 426, "status")
    expect("13" in (answer.header("Sec-WebSocket-Version") or ""), "Sec-WebSocket-Version: %r"
           % answer.header("Sec-WebSocket-Version"))


@check("A handshake without Sec-WebSocket-Key is 400")
def _(t):
    answer, _ = plain_request(t.port, b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                      b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
    expect_equal(answer.status, 400, "status")


# --- messages ------------------------------------------------------------------------------------

@check("Text and binary messages come back with their opcode")
def _(t):
    with RawWebSocket(t.port, "/ws/echo") as ws:
        ws.send_frame(OP_TEXT, "h\u00e9llo \u20ac".encode())
        expect_equal(ws.receive_message(), (OP_TEXT, "h\u00e9llo \u20ac".encode()), "text")
        ws.send_frame(OP_BINARY, bytes(range(256)))
        expect_equal(ws.receive_message(), (OP_BINARY, bytes(range(256))), "binary")


@check("Lengths in 7, 16 and 64 bits (0, 125, 126, 65535, 65536 and 200000 bytes)")
def _(t):
    with RawWebSocket(t.port, "/ws/echo") as ws:
        for size in (0, 125, 126, 65535, 65536, 200000):
            payload = os.urandom(size)
            ws.send_frame(OP_BINARY, payload)
            got = ws.receive_message()
            expect(got == (OP_BINARY, payload), "%d bytes came back as %d" % (size, len(got[1])))


@check("Fragments are joined; a ping between them is answered at once")
def _(t):
    with RawWebSocket(t.port, "/ws/echo") as ws:
        ws.send_frame(OP_TEXT, b"frag", fin=False)
        ws.send_frame(OP_PING, b"between")
        expect_equal(ws.receive_frame(), (True, OP_PONG, b"between"), "the pong, before the message ends")
        ws.send_frame(OP_CONTINUATION, "men\xc3".encode("latin-1"), fin=False)  # a character split in two
        ws.send_frame(OP_CONTINUATION, "\xa9ted".encode("latin-1"))
        expect_equal(ws.receive_message(), (OP_TEXT, "fragmen\u00e9ted".encode()), "the joined message")


@check("The client's close is echoed with its code, then the server closes TCP")
def _(t):
    with RawWebSocket(t.port, "/ws/echo") as ws:
        ws.send_frame(OP_CLOSE, close_payload(4001, b"bye"))
        code, _ = ws.close_code_and_reason()
        expect_equal(code, 4001, "close code")


@check("The echoed close carries the reason too",
       tornado_falls_short="Tornado 6.2 echoes the code alone")
def _(t):
    with RawWebSocket(t.port, "/ws/echo") as ws:
        ws.send_frame(OP_CLOSE, close_payload(1000, b"see you"))
        expect_equal(ws.close_code_and_reason(), (1000, b"see you"), "code and reason")


# --- every rule: a close frame with its code, then the end of TCP ----------------------------

NO_CLOSE_FRAME = "Tornado 6.2 closes the connection without a close frame"

RULES = [
    ("an unmasked client frame", 1002, lambda ws: ws.send_frame(OP_TEXT, b"hi", masked=False),
     "Tornado 6.2 accepts the unmasked frame and echoes it"),
    ("RSV1 without an extension", 1002, lambda ws: ws.send_frame(OP_TEXT, b"hi", rsv=4), NO_CLOSE_FRAME),
    ("RSV2", 1002, lambda ws: ws.send_frame(OP_TEXT, b"hi", rsv=2), NO_CLOSE_FRAME),
    ("an unknown opcode (3)", 1002, lambda ws: ws.send_frame(3, b"hi"), NO_CLOSE_FRAME),
    ("a ping of 126 bytes", 1002, lambda ws: ws.send_frame(OP_PING, b"p" * 126), NO_CLOSE_FRAME),
    ("a fragmented ping", 1002, lambda ws: ws.send_frame(OP_PING, b"p", fin=False), NO_CLOSE_FRAME),
    ("a continuation with nothing to continue", 1002, lambda ws: ws.send_frame(OP_CONTINUATION, b"x"),
     NO_CLOSE_FRAME),
    ("a new message inside a fragmented one", 1002,
     lambda ws: (ws.send_frame(OP_TEXT, b"a", fin=False), ws.send_frame(OP_TEXT, b"b")), NO_CLOSE_FRAME),
    ("a close frame of one byte", 1002, lambda ws: ws.send_frame(OP_CLOSE, b"\x03"),
     "Tornado 6.2 answers with an empty close frame"),
    ("a close code no endpoint may send (1005)", 1002, lambda ws: ws.send_frame(OP_CLOSE, close_payload(1005)),
     "Tornado 6.2 echoes the code"),
    ("text that is not UTF-8", 1007, lambda ws: ws.send_frame(OP_TEXT, b"caf\xc3("), NO_CLOSE_FRAME),
    ("text not UTF-8 across fragments", 1007,
     lambda ws: (ws.send_frame(OP_TEXT, b"caf\xc3", fin=False), ws.send_frame(OP_CONTINUATION, b"(")),
     NO_CLOSE_FRAME),
    ("a message over 10 MiB (said by its header)", 1009,
     lambda ws: ws.send_raw(bytes([0x82, 0xFF]) + (MAX_MESSAGE_SIZE + 1).to_bytes(8, "big") + b"mask"), None),
]


def make_rule_check(description, code, send, falls_short):
    @check("Broken rule, %s: close %d, then TCP closed" % (description, code), tornado_falls_short=falls_short)
    def _(t):
        with RawWebSocket(t.port, "/ws/echo") as ws:
            send(ws)
            got, reason = ws.close_code_and_reason()
            expect_equal(got, code, "close code (reason %r)" % reason)


for rule in RULES:
    make_rule_check(*rule)


@check("After all of that, the server still echoes")
def _(t):
    with RawWebSocket(t.port, "/ws/echo") as ws:
        ws.send_frame(OP_TEXT, b"still here")
        expect_equal(ws.receive_message(), (OP_TEXT, b"still here"), "echo")


# --- interoperability: python3-websockets and Tornado ------------------------------------------

def websockets_module():
    try:
        import websockets
    except ImportError:
        raise CheckFailed("python3-websockets is missing (tools/install-deps.sh build installs it; run this "
                          "script with /usr/bin/python3)")
    return websockets


async def websockets_session(url, compression):
    websockets = websockets_module()
    async with websockets.connect(url, compression=compression, max_size=2 ** 24) as ws:
        extensions = ws.response_headers.get("Sec-WebSocket-Extensions")
        await ws.send("h\u00e9llo")
        expect_equal(await ws.recv(), "h\u00e9llo", "text")
        await ws.send(b"\x00\xff")
        expect_equal(await ws.recv(), b"\x00\xff", "binary")
        big = "word " * 20000
        await ws.send(big)
        expect(await ws.recv() == big, "the 100 KB text came back changed")
        await ws.send(["frag", "mented"])  # a fragmented message
        expect_equal(await ws.recv(), "fragmented", "fragmented")
        pong = await ws.ping(b"ping data")
        await asyncio.wait_for(pong, TIMEOUT)
        await ws.close(1000, "done")
        expect_equal((ws.close_code, ws.close_reason), (1000, "done"), "the server's answer to our close")
    return extensions


@check("python3-websockets as client: text, binary, 100 KB, fragments, ping, close", interop=True)
def _(t):
    extensions = asyncio.run(websockets_session("ws://127.0.0.1:%d/ws/echo" % t.port, None))
    expect_equal(extensions, None, "extensions when none was offered")


@check("python3-websockets as client, with permessage-deflate", interop=True)
def _(t):
    with ServerProcess(os.path.join(t.bin_dir, "final_websocket_echo"), "--compress",
                       stderr=subprocess.DEVNULL) as server:
        extensions = asyncio.run(websockets_session("ws://127.0.0.1:%d/ws/echo" % server.port, "deflate"))
    expect(extensions and extensions.startswith("permessage-deflate"), "not negotiated: %r" % extensions)


# A websockets echo server in a process of its own (it needs its own event
# loop while our client runs).
WEBSOCKETS_SERVER = r"""
import asyncio, sys, websockets
async def echo(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    compression = "deflate" if sys.argv[1] == "deflate" else None
    async with websockets.serve(echo, "127.0.0.1", 0, compression=compression) as server:
        print("Listening on http://127.0.0.1:%d/" % server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"""


def python_server(*arguments):
    """A ServerProcess (not started) for /usr/bin/python3 ARGUMENTS, which
    prints the ready line of the port it chose."""
    server = ServerProcess(SYSTEM_PYTHON, stderr=subprocess.DEVNULL)
    server.command = [SYSTEM_PYTHON, *arguments]
    return server


def run_our_client(bin_dir, url, *options_and_messages):
    command = [os.path.join(bin_dir, "final_websocket_client"), *options_and_messages[:-1], url,
               *options_and_messages[-1]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT * 2)
    expect_equal(done.returncode, 0, "exit status of %s (stderr: %s)" % (" ".join(command), done.stderr.strip()))
    return done.stdout.splitlines()


@check("Our client against python3-websockets' server, plain and with permessage-deflate", interop=True)
def _(t):
    websockets_module()
    for compression, flags, connected in (("none", [], "connected"),
                                          ("deflate", ["--compress"], "connected with permessage-deflate")):
        with python_server("-c", WEBSOCKETS_SERVER, compression) as server:
            lines = run_our_client(t.bin_dir, "ws://127.0.0.1:%d/" % server.port, *flags,
                                   ["hello", "h\u00e9llo", "x" * 5000])
        # (websockets answers "permessage-deflate; server_max_window_bits=12;
        # client_max_window_bits=12": smaller windows, which we follow)
        agreed = lines[0] == connected if compression == "none" else lines[0].startswith(connected)
        expect(agreed, "what was agreed (%s): %r" % (compression, lines[0]))
        expect_equal(lines[1:4], ["< hello", "< h\u00e9llo", "< " + "x" * 5000], "answers (%s)" % compression)
        expect_equal(lines[4], "closed: 1000 ", "the close (%s)" % compression)


@check("Our client against Python Tornado's server", interop=True)
def _(t):
    with python_server(TORNADO_ECHO, "--port=0", "--address=127.0.0.1") as server:
        lines = run_our_client(t.bin_dir, "ws://127.0.0.1:%d/ws/echo" % server.port, ["one", "two"])
    expect_equal(lines, ["connected", "< one", "< two", "closed: 1000 "], "output")


# --- running them --------------------------------------------------------------------------------

def run(name, function, target):
    started = time.monotonic()
    try:
        function(target)
    except (CheckFailed, rawws.ProtocolError) as failure:
        print("FAIL  %s: %s" % (name, failure))
        return False
    except Exception:
        print("FAIL  %s: %s" % (name, traceback.format_exc().strip().splitlines()[-1]))
        return False
    print("PASS  %s (%.2f s)" % (name, time.monotonic() - started))
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", help="the build's bin folder (final_websocket_echo, final_websocket_client)")
    parser.add_argument("--oracle", action="store_true", help="run the raw-byte checks against Python Tornado")
    parser.add_argument("--run-lenient", action="store_true",
                        help="with --oracle, run the checks Tornado falls short of too (to see how it fails them)")
    options = parser.parse_args()
    if not options.bin and not options.oracle:
        parser.error("give --bin DIR or --oracle")
    if options.oracle:
        server = python_server(TORNADO_ECHO, "--port=0", "--address=127.0.0.1")
    else:
        server = ServerProcess(os.path.join(options.bin, "final_websocket_echo"), stderr=subprocess.DEVNULL)
    passed = failed = skipped = 0
    started = time.monotonic()
    with server:
        print("testing %s (pid %d, port %d)" % (" ".join(server.command), server.pid, server.port))
        target = Target(server.port, options.bin)
        for name, function, falls_short, interop in CHECKS:
            if options.oracle and (interop or (falls_short and not options.run_lenient)):
                print("SKIPPED %s: %s" % ("(stricter than Tornado 6.2)" if falls_short else "(not for the oracle)",
                                          name + (": " + falls_short if falls_short else "")))
                skipped += 1
                continue
            if run(name, function, target):
                passed += 1
            else:
                failed += 1
        if server.process.poll() is not None:
            print("FAIL  the server exited during the checks (status %s)" % server.process.returncode)
            failed += 1
    print("summary: %d passed, %d failed, %d skipped (%.1f s)" % (passed, failed, skipped, time.monotonic() - started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
