#!/usr/bin/env python3
"""Black-box checks of final/'s TLS, against implementations we did not write.

    final_tls_test.py --bin build/bin     needs final_hello, final_httpclient, demo_app and
                                          final_websocket_client there

The certificates are made at test time by the `openssl` command (a CA on
EC P-256, a server certificate for localhost and 127.0.0.1 that it signs,
and a second, unrelated CA), so that the framework never checks itself
against certificates from its own generator. The temporary folder that
holds them is removed at the end.

Our server (final_hello --certfile --keyfile) against other clients:
  - curl (libcurl on OpenSSL) proves the certificate chain and the names in
    it are served the way a real client expects, that ALPN gives HTTP/1.1
    even to a client that offers h2, and that a client trusting another CA
    refuses us (curl's exit status 60), so the success is not luck.
  - `openssl s_client` shows the handshake itself: the protocol (TLS 1.3
    by default, TLS 1.2 still allowed, TLS 1.1 refused, a TLS 1.2
    renegotiation refused), the ALPN choice,
    the certificate verified for localhost, the name sent by SNI, and close_notify
    after "Connection: close": Python Tornado, on Python's ssl module,
    closes the TCP connection without it, and s_client then fails.
  - Python's ssl module proves keep-alive over TLS (three requests on one
    connection) and that the server ends the connection with close_notify,
    not a bare TCP close (which a client cannot tell from a truncation).
  - curl over plain HTTP to the TLS port gets nginx's 400 answer, and 20
    idle TCP connections do not hold up the handshake of a real client.
The demo app (demo_app --certfile --keyfile) serves HTTPS and wss:// on one
port:
  - curl trusting our CA gets GET / (200, "Hello, world"): the application,
    not only the small hello server, runs behind TLS.
  - Debian's python3-websockets (its own WebSocket code on Python's ssl
    module, verifying the certificate for localhost) has "hello tls" and a
    100 kB message echoed by /ws/echo, then closes with 1000. It proves
    that the HTTP upgrade and the WebSocket frames travel over TLS records,
    a message larger than one record (16 kB) included, and that the close
    handshake works over TLS.
Our clients against servers written in Python, both run by Debian's
/usr/bin/python3 (tools/install-deps.sh build installs python3-tornado and
python3-websockets):
  - final_httpclient against Python Tornado's HTTPS server (with --curl
    too: libcurl through CurlAsyncHTTPClient), and
  - final_websocket_client (wss://) against python3-websockets' TLS echo
    server:
each trusts the right CA by --ca_certs (by name and by IP address), refuses
the other CA with "certificate verify failed", and accepts it with
--validate_cert=false. A server we did not write shows that our client
verifies what any TLS server sends, not only what our own server sends.

One line per check (PASS / FAIL; NOTE for the TLS 1.1 check when the local
openssl cannot offer TLS 1.1 at all), a summary, exit status 1 if any failed.
Standard library only; every wait is bounded.
"""
import argparse
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import CheckFailed, expect, expect_equal  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
TIMEOUT = 10
PLAIN_HTTP_ANSWER = b"The plain HTTP request was sent to an HTTPS port\n"
TORNADO_BODY = "Hello from Python Tornado over TLS"


# --- certificates ------------------------------------------------------------------------------

# The extensions a browser-grade client checks: a CA that may only sign
# certificates, and a leaf that may only serve TLS, for exactly our names.
OPENSSL_CONFIG = """\
[req]
distinguished_name = name
prompt = no
[name]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


class Certificates:
    """ca.pem signs server.pem (key server.key); other_ca.pem signs nothing of ours."""

    def __init__(self, folder):
        self.folder = folder
        self.config = self.path("openssl.cnf")
        with open(self.config, "w") as out:
            out.write(OPENSSL_CONFIG)
        self.ca = self._make_ca("ca", "final_tls_test CA")
        self.other_ca = self._make_ca("other_ca", "final_tls_test unrelated CA")
        self.cert, self.key = self._make_server_certificate()

    def path(self, name):
        return os.path.join(self.folder, name)

    def _openssl(self, *arguments):
        done = subprocess.run(["openssl", *arguments], capture_output=True, text=True, timeout=TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (" ".join(arguments), done.stderr.strip()))
        return done.stdout

    def _make_key(self, name):
        key = self.path(name + ".key")
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        return key

    def _make_ca(self, name, common_name):
        key = self._make_key(name)
        certificate = self.path(name + ".pem")
        self._openssl("req", "-x509", "-new", "-key", key, "-sha256", "-days", "2", "-subj", "/CN=" + common_name,
                      "-config", self.config, "-extensions", "ca", "-out", certificate)
        return certificate

    def _make_server_certificate(self):
        key = self._make_key("server")
        request, certificate = self.path("server.csr"), self.path("server.pem")
        self._openssl("req", "-new", "-key", key, "-subj", "/CN=localhost", "-config", self.config, "-out", request)
        self._openssl("x509", "-req", "-in", request, "-CA", self.ca, "-CAkey", self.path("ca.key"),
                      "-set_serial", "0x" + secrets.token_hex(8), "-sha256", "-days", "2",
                      "-extfile", self.config, "-extensions", "server", "-out", certificate)
        # A certificate mistake here would look like a server bug later.
        self._openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", self.ca, certificate)
        return certificate, key


# --- talking to a TLS server -------------------------------------------------------------------

def run(command, stdin=b"", timeout=TIMEOUT):
    """stdin: the bytes the command reads (none by default, so that nothing
    waits on the terminal)."""
    return subprocess.run(command, input=stdin, capture_output=True, timeout=timeout)


def curl(*arguments):
    return run(["curl", "--silent", "--show-error", "--max-time", str(TIMEOUT), *arguments])


def tls_connection(port, ca):
    """A verified TLS connection offering ALPN http/1.1. suppress_ragged_eofs
    off: a TCP close without close_notify then raises instead of looking
    like a clean end."""
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)


class ResponseReader:
    """Reads HTTP/1.1 responses framed by Content-Length off one connection."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _fill(self):
        piece = self.sock.recv(65536)
        expect(piece, "the connection ended in the middle of a response (after %r)" % self.buffer)
        self.buffer += piece

    def read(self):
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"(?im)^content-length: *([0-9]+)", head)
        expect(length, "a response without Content-Length: %r" % head)
        size = int(length.group(1))
        while len(self.buffer) < size:
            self._fill()
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return status, head, body


def get_request(close=False):
    return b"GET / HTTP/1.1\r\nHost: localhost\r\n" + (b"Connection: close\r\n" if close else b"") + b"\r\n"


def s_client(port, ca, *options):
    """openssl s_client sending one "Connection: close" request; -ign_eof
    keeps it reading until the server ends the connection. Returns
    (exit status, stdout and stderr together)."""
    command = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
               "-alpn", "http/1.1", "-CAfile", ca, "-verify_hostname", "localhost", "-verify_return_error",
               "-ign_eof", *options]
    done = run(command, stdin=get_request(close=True))
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def expect_in(needle, text, what):
    expect(needle in text, "%s: %r not in the output:\n%s" % (what, needle, text))


def registrar(checks):
    """A decorator @check(name) that appends (name, function) to checks, in
    the order of this file; each server below runs its own list."""
    def check(name):
        def register(function):
            checks.append((name, function))
            return function
        return register
    return check


# --- our server against curl, openssl s_client and Python's ssl --------------------------------

SERVER_CHECKS = []
server_check = registrar(SERVER_CHECKS)


class NotApplicable(Exception):
    """The tool this machine has cannot make the check's test at all."""


@server_check("curl trusting our CA: 'Hello, world' over HTTP/1.1 (ALPN), by name and by IP address")
def _(port, certs):
    for url in ("https://localhost:%d/" % port, "https://127.0.0.1:%d/" % port):
        done = curl("--cacert", certs.ca, "--resolve", "localhost:%d:127.0.0.1" % port,
                    "--write-out", "\n%{http_version}", url)
        expect_equal(done.returncode, 0, "curl's exit status for %s (stderr %r)" % (url, done.stderr))
        # curl offers h2 first: "1.1" shows the server chose http/1.1.
        expect_equal(done.stdout, b"Hello, world\n1.1", "body and HTTP version of " + url)


@server_check("curl trusting another CA refuses the certificate (exit status 60)")
def _(port, certs):
    done = curl("--cacert", certs.other_ca, "--resolve", "localhost:%d:127.0.0.1" % port,
                "https://localhost:%d/" % port)
    expect_equal(done.returncode, 60, "curl's exit status (stderr %r)" % done.stderr)


@server_check("openssl s_client: TLS 1.3, ALPN http/1.1, certificate verified, close_notify after the answer")
def _(port, certs):
    status, output = s_client(port, certs.ca)
    # s_client prints "closed" and exits 0 only on close_notify; a bare TCP
    # close is "unexpected eof while reading" and exit status 1.
    expect_equal(status, 0, "s_client's exit status; output:\n" + output)
    expect(re.search(r"(?m)^closed$", output), "no close_notify ('closed'); output:\n" + output)
    expect_in("Protocol  : TLSv1.3", output, "protocol")
    expect_in("ALPN protocol: http/1.1", output, "ALPN")
    expect_in("Verify return code: 0 (ok)", output, "verification")
    expect_in("HTTP/1.1 200 OK", output, "the answer")
    expect_in("Hello, world", output, "the body")


@server_check("openssl s_client -tls1_2: TLS 1.2 is still served, with ALPN")
def _(port, certs):
    status, output = s_client(port, certs.ca, "-tls1_2")
    expect_equal(status, 0, "s_client's exit status; output:\n" + output)
    expect_in("Protocol  : TLSv1.2", output, "protocol")
    expect_in("ALPN protocol: http/1.1", output, "ALPN")
    expect_in("Verify return code: 0 (ok)", output, "verification")
    expect_in("Hello, world", output, "the body")


@server_check("openssl s_client -tls1_1: refused by the server with a protocol_version alert")
def _(port, certs):
    # Above security level 0, OpenSSL 3's client would itself give up a TLS
    # 1.1 handshake the server accepted (its signatures are too weak), so
    # the check could pass against a server that says yes. At level 0 only
    # the server can refuse, and RFC 8446 4.2.1 says with which alert.
    status, output = s_client(port, certs.ca, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    if "no protocols available" in output or "unknown option" in output:
        raise NotApplicable("the local openssl cannot offer TLS 1.1 at all, so nothing was sent")
    expect(status != 0, "s_client succeeded; output:\n" + output)
    expect("Hello, world" not in output, "a TLS 1.1 client was served:\n" + output)
    expect_in("alert protocol version", output, "the server's alert")


@server_check("openssl s_client -tls1_2 asking to renegotiate: refused ('no renegotiation')")
def _(port, certs):
    # s_client renegotiates on an "R" line, but only while its input is
    # open (and not with -ign_eof): the pipe stays open until it exits,
    # which it does once the server has refused.
    command = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
               "-tls1_2", "-CAfile", certs.ca]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as client:
        try:
            client.stdin.write(b"R\n")
            client.stdin.flush()
            output, _ = client.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            client.kill()
            client.communicate()
            raise CheckFailed("s_client was neither refused nor answered in %d s" % TIMEOUT)
    text = output.decode(errors="replace")
    expect_in("RENEGOTIATING", text, "s_client's attempt")
    expect_in("no renegotiation", text, "the refusal")


@server_check("Python ssl: three requests on one TLS 1.3 connection, then close_notify after 'Connection: close'")
def _(port, certs):
    with tls_connection(port, certs.ca) as sock:
        expect_equal(sock.version(), "TLSv1.3", "protocol")
        expect_equal(sock.selected_alpn_protocol(), "http/1.1", "ALPN")
        reader = ResponseReader(sock)
        for number in (1, 2, 3):
            sock.sendall(get_request(close=number == 3))
            status, _, body = reader.read()
            expect_equal((status, body), (200, b"Hello, world"), "response %d" % number)
        expect_equal(reader.buffer, b"", "bytes after the third response")
        try:
            end = sock.recv(1)
        except ssl.SSLEOFError as error:
            raise CheckFailed("the server closed TCP without close_notify (%s)" % error)
        expect_equal(end, b"", "after the last response (b'' is close_notify)")


@server_check("curl http:// to the TLS port: 400 with nginx's message, then closed")
def _(port, certs):
    done = curl("--include", "http://127.0.0.1:%d/" % port)
    expect_equal(done.returncode, 0, "curl's exit status (stderr %r)" % done.stderr)
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    expect(head.startswith(b"HTTP/1.1 400 Bad Request"), "status line %r" % head.split(b"\r\n")[0])
    expect_equal(body, PLAIN_HTTP_ANSWER, "body")
    # curl stops at Content-Length; a raw keep-alive request shows the close.
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(get_request())
        answer = b""
        while piece := sock.recv(65536):
            answer += piece
    expect(answer.endswith(b"\r\n\r\n" + PLAIN_HTTP_ANSWER), "the raw answer %r" % answer)


@server_check("20 idle TCP connections do not delay a TLS client (served in under 1 s)")
def _(port, certs):
    idle = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(20)]
    try:
        started = time.monotonic()
        with tls_connection(port, certs.ca) as sock:
            sock.sendall(get_request())
            status, _, body = ResponseReader(sock).read()
        elapsed = time.monotonic() - started
    finally:
        for connection in idle:
            connection.close()
    expect_equal((status, body), (200, b"Hello, world"), "the response")
    expect(elapsed < 1.0, "served in %.2f s" % elapsed)


# --- demo_app over HTTPS and wss, against curl and python3-websockets --------------------------

DEMO_APP_CHECKS = []
demo_app_check = registrar(DEMO_APP_CHECKS)

# python3-websockets as a client, in Debian's Python (the one that has the
# module): it sends the JSON list of messages read from stdin, one at a
# time, and prints as JSON what came back, the TLS version and the close.
WEBSOCKETS_CLIENT = r"""
import asyncio, json, ssl, sys, websockets
port, ca = int(sys.argv[1]), sys.argv[2]
messages = json.load(sys.stdin)
async def main():
    context = ssl.create_default_context(cafile=ca)
    # compression=None: the 100 kB must cross TLS as 100 kB, not deflated.
    async with websockets.connect("wss://localhost:%d/ws/echo" % port, ssl=context, compression=None,
                                  host="127.0.0.1", server_hostname="localhost") as ws:
        answers = []
        for message in messages:
            await ws.send(message)
            answers.append(await ws.recv())
        tls = ws.transport.get_extra_info("ssl_object").version()
        await ws.close(1000, "done")
    print(json.dumps({"answers": answers, "tls": tls, "close": [ws.close_code, ws.close_reason]}))
asyncio.run(asyncio.wait_for(main(), 10))
"""


def system_python_lacks(module, package):
    """Why Debian's Python cannot import module, or None if it can."""
    if not os.path.exists(SYSTEM_PYTHON):
        return "%s does not exist" % SYSTEM_PYTHON
    done = run([SYSTEM_PYTHON, "-c", "import " + module])
    if done.returncode != 0:
        return ("%s cannot import %s (tools/install-deps.sh build installs %s): %s"
                % (SYSTEM_PYTHON, module, package, done.stderr.decode(errors="replace").strip().splitlines()[-1]))
    return None


@demo_app_check("demo_app: curl trusting our CA gets GET / over HTTPS (200, 'Hello, world')")
def _(port, certs):
    done = curl("--cacert", certs.ca, "--resolve", "localhost:%d:127.0.0.1" % port,
                "--write-out", "\n%{http_code}", "https://localhost:%d/" % port)
    expect_equal(done.returncode, 0, "curl's exit status (stderr %r)" % done.stderr)
    # The demo app's contract for GET / (its README).
    expect_equal(done.stdout, b"Hello, world\n200", "body and status")


@demo_app_check("demo_app: python3-websockets over wss echoes 'hello tls' and 100 kB, then closes with 1000")
def _(port, certs):
    missing = system_python_lacks("websockets", "python3-websockets")
    if missing:
        raise CheckFailed(missing)
    # Random text, so that no layer could shorten it.
    messages = ["hello tls", secrets.token_hex(50000)]
    done = run([SYSTEM_PYTHON, "-c", WEBSOCKETS_CLIENT, str(port), certs.ca],
               stdin=json.dumps(messages).encode(), timeout=TIMEOUT * 2)
    expect_equal(done.returncode, 0, "python3-websockets' exit status (stderr:\n%s)"
                 % done.stderr.decode(errors="replace").strip())
    report = json.loads(done.stdout)
    expect_equal(report["answers"][0], messages[0], "the first answer")
    expect(report["answers"][1] == messages[1], "the 100 kB answer differs (%d characters came back)"
           % len(report["answers"][1]))
    expect_equal(report["tls"], "TLSv1.3", "protocol")
    expect_equal(report["close"], [1000, "done"], "the server's answer to our close")


# --- our client against Python Tornado's HTTPS server ------------------------------------------

# Tornado's own TLS (Python's ssl module), bound by Tornado to a free port
# on 127.0.0.1; the process ends itself after a minute if nobody stops it.
TORNADO_SERVER = """
import sys, tornado.httpserver, tornado.ioloop, tornado.netutil, tornado.web
class Main(tornado.web.RequestHandler):
    def get(self):
        self.write(%r)
sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
server = tornado.httpserver.HTTPServer(tornado.web.Application([("/", Main)]),
                                       ssl_options={"certfile": sys.argv[1], "keyfile": sys.argv[2]})
server.add_sockets(sockets)
print("Listening on https://127.0.0.1:%%d/" %% sockets[0].getsockname()[1], flush=True)
loop = tornado.ioloop.IOLoop.current()
loop.call_later(60, loop.stop)
loop.start()
""" % TORNADO_BODY

CLIENT_CHECKS = []
client_check = registrar(CLIENT_CHECKS)


def our_client(bin_dir, *arguments):
    done = run([os.path.join(bin_dir, "final_httpclient"), *arguments], timeout=TIMEOUT * 2)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


@client_check("final_httpclient --ca_certs=ca.pem fetches Tornado's page, by name and by IP address")
def _(port, certs, bin_dir):
    for url in ("https://localhost:%d/" % port, "https://127.0.0.1:%d/" % port):
        status, out, err = our_client(bin_dir, "--ca_certs=" + certs.ca, url)
        expect_equal(status, 0, "exit status for %s (stderr %r)" % (url, err))
        expect_equal(out, TORNADO_BODY, "body of " + url)


@client_check("final_httpclient trusting another CA refuses: exit 1, 'certificate verify failed'")
def _(port, certs, bin_dir):
    status, out, err = our_client(bin_dir, "--ca_certs=" + certs.other_ca, "https://localhost:%d/" % port)
    expect_equal(status, 1, "exit status (stderr %r)" % err)
    expect_in("certificate verify failed", err, "stderr")
    expect(TORNADO_BODY not in out, "the body was printed: %r" % out)


@client_check("final_httpclient --validate_cert=false accepts the certificate of another CA")
def _(port, certs, bin_dir):
    status, out, err = our_client(bin_dir, "--validate_cert=false", "--ca_certs=" + certs.other_ca,
                                  "https://localhost:%d/" % port)
    expect_equal(status, 0, "exit status (stderr %r)" % err)
    expect_equal(out, TORNADO_BODY, "body")


@client_check("final_httpclient --curl (libcurl) fetches Tornado's page, and refuses another CA's")
def _(port, certs, bin_dir):
    url = "https://localhost:%d/" % port
    status, out, err = our_client(bin_dir, "--curl", "--ca_certs=" + certs.ca, url)
    expect_equal(status, 0, "exit status (stderr %r)" % err)
    expect_equal(out, TORNADO_BODY, "body")
    status, out, err = our_client(bin_dir, "--curl", "--ca_certs=" + certs.other_ca, url)
    expect_equal(status, 1, "exit status with another CA (stderr %r)" % err)
    expect(TORNADO_BODY not in out, "the body was printed: %r" % out)


def python_server(program, certs):
    """A ServerProcess (not started) for a Python program given with -c; it
    prints the ready line of the port it chose."""
    server = ServerProcess(SYSTEM_PYTHON, stderr=subprocess.DEVNULL)
    server.command = [SYSTEM_PYTHON, "-c", program, certs.cert, certs.key]
    return server


# --- our wss client against python3-websockets' TLS server -------------------------------------

# An echo server on python3-websockets and Python's ssl module, on a free
# port of 127.0.0.1; it ends itself after a minute if nobody stops it.
WEBSOCKETS_TLS_SERVER = r"""
import asyncio, ssl, sys, websockets
async def echo(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=context) as server:
        print("Listening on https://127.0.0.1:%d/" % server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"""

WSS_CLIENT_CHECKS = []
wss_client_check = registrar(WSS_CLIENT_CHECKS)

# What final_websocket_client prints for one message answered, when the
# server answers our close with 1000 and no reason.
WSS_HELLO_OUTPUT = ["connected", "< hello", "closed: 1000 "]


def our_wss_client(bin_dir, *arguments):
    done = run([os.path.join(bin_dir, "final_websocket_client"), *arguments], timeout=TIMEOUT * 2)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


@wss_client_check("final_websocket_client --ca_certs=ca.pem: wss echo of 'hello', by name and by IP address")
def _(port, certs, bin_dir):
    for url in ("wss://localhost:%d/" % port, "wss://127.0.0.1:%d/" % port):
        status, out, err = our_wss_client(bin_dir, "--ca_certs=" + certs.ca, url, "hello")
        expect_equal(status, 0, "exit status for %s (stderr %r)" % (url, err))
        expect_equal(out.splitlines(), WSS_HELLO_OUTPUT, "output for " + url)


@wss_client_check("final_websocket_client trusting another CA refuses: exit 1, 'certificate verify failed'")
def _(port, certs, bin_dir):
    status, out, err = our_wss_client(bin_dir, "--ca_certs=" + certs.other_ca, "wss://localhost:%d/" % port,
                                      "hello")
    expect_equal(status, 1, "exit status (stdout %r, stderr %r)" % (out, err))
    expect_in("certificate verify failed", out + err, "stdout and stderr")
    expect("connected" not in out, "it connected anyway: %r" % out)


@wss_client_check("final_websocket_client --validate_cert=false accepts the certificate of another CA")
def _(port, certs, bin_dir):
    status, out, err = our_wss_client(bin_dir, "--validate_cert=false", "--ca_certs=" + certs.other_ca,
                                      "wss://localhost:%d/" % port, "hello")
    expect_equal(status, 0, "exit status (stderr %r)" % err)
    expect_equal(out.splitlines(), WSS_HELLO_OUTPUT, "output")


# --- running them ------------------------------------------------------------------------------

def run_check(name, function, *arguments):
    """True (PASS), False (FAIL), or None: NOTE, the check could not be made here."""
    started = time.monotonic()
    try:
        function(*arguments)
    except NotApplicable as reason:
        print("NOTE  %s: not checked: %s" % (name, reason), flush=True)
        return None
    except CheckFailed as failure:
        print("FAIL  %s: %s" % (name, failure), flush=True)
        return False
    except Exception:
        print("FAIL  %s: %s" % (name, traceback.format_exc().strip().splitlines()[-1]), flush=True)
        return False
    print("PASS  %s (%.2f s)" % (name, time.monotonic() - started), flush=True)
    return True


def run_checks_on(server, description, checks, *arguments):
    """Starts server, runs each check with (its port, *arguments), stops it.
    A server that died on the way is a failure of its own."""
    results = []
    with server:
        print("%s: pid %d, port %d" % (description, server.pid, server.port), flush=True)
        for name, function in checks:
            results.append(run_check(name, function, server.port, *arguments))
        if server.process.poll() is not None:
            print("FAIL  %s exited during the checks (status %s)" % (description, server.process.returncode))
            results.append(False)
    return results


def our_tls_server(bin_dir, program, certs):
    return ServerProcess(os.path.join(bin_dir, program), "--certfile=" + certs.cert, "--keyfile=" + certs.key,
                         stderr=subprocess.DEVNULL)


def run_client_checks(checks, module, package, server, description, certs, bin_dir):
    """Our client's checks against a server of Debian's Python, which must
    have module; without it each check fails and says why."""
    missing = system_python_lacks(module, package)
    if missing:
        for name, _ in checks:
            print("FAIL  %s: %s" % (name, missing))
        return [False] * len(checks)
    return run_checks_on(server, description, checks, certs, bin_dir)


def run_all(bin_dir, certs):
    return (run_checks_on(our_tls_server(bin_dir, "final_hello", certs), "our server final_hello",
                          SERVER_CHECKS, certs)
            + run_checks_on(our_tls_server(bin_dir, "demo_app", certs), "our demo_app", DEMO_APP_CHECKS, certs)
            + run_client_checks(CLIENT_CHECKS, "tornado", "python3-tornado", python_server(TORNADO_SERVER, certs),
                                "Tornado's HTTPS server", certs, bin_dir)
            + run_client_checks(WSS_CLIENT_CHECKS, "websockets", "python3-websockets",
                                python_server(WEBSOCKETS_TLS_SERVER, certs), "python3-websockets' wss server",
                                certs, bin_dir))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the build's bin folder (final_hello, final_httpclient, "
                                                     "demo_app, final_websocket_client)")
    options = parser.parse_args()
    started = time.monotonic()
    folder = tempfile.mkdtemp(prefix="final_tls_test.")
    try:
        certs = Certificates(folder)
        results = run_all(options.bin, certs)
    finally:
        shutil.rmtree(folder)
    failed, not_checked = results.count(False), results.count(None)
    print("summary: %d passed, %d failed, %d not checked (%.1f s)"
          % (results.count(True), failed, not_checked, time.monotonic() - started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
