#!/usr/bin/env python3
"""Black-box checks of final/'s examples: hello, chat, tcpecho, file_upload.

    final_examples_test.py --bin build/bin [--only hello,chat,...]

Each example is started with --port=0 (tests/clients/serverproc.py), talked
to over 127.0.0.1 the way its README says, and stopped by its PID. One line
per check (PASS / FAIL), exit status 1 if any failed. Standard library only;
every wait is bounded.
"""
import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProcess, children_of  # noqa: E402

TIMEOUT = 10


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def form(fields):
    return urllib.parse.urlencode(fields), {"Content-Type": "application/x-www-form-urlencoded"}


def multipart(files):
    boundary = uuid.uuid4().hex
    parts = []
    for field, filename, content in files:
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n" % (boundary, field, filename))
                     .encode() + content + b"\r\n")
    body = b"".join(parts) + ("--%s--\r\n" % boundary).encode()
    return body, {"Content-Type": "multipart/form-data; boundary=" + boundary}


def check(results, name, condition, detail=""):
    results.append((name, bool(condition), detail))


def hello_checks(bin_dir, results):
    with ServerProcess(os.path.join(bin_dir, "final_hello"), stderr=subprocess.DEVNULL) as server:
        status, headers, body = request(server.port, "GET", "/")
        check(results, "hello: GET / is 200 'Hello, world' as text/html",
              status == 200 and body == b"Hello, world" and
              headers.get("Content-Type") == "text/html; charset=UTF-8", (status, body, headers))
        status, _, _ = request(server.port, "GET", "/nowhere")
        check(results, "hello: an unknown path is 404", status == 404, status)
    hello_processes_checks(bin_dir, results)
    hello_reuse_port_checks(bin_dir, results)
    taken_port_checks(bin_dir, results)


def taken_port_checks(bin_dir, results):
    """A port another program holds: final_hello and demo_app say so in one
    line naming the address and exit 1, not an abort."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for name in ("final_hello", "demo_app"):
            program = os.path.join(bin_dir, name)
            if not os.path.exists(program):
                continue
            done = subprocess.run([program, "--port=%d" % port], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=TIMEOUT)
            said = b"%s: bind 127.0.0.1:%d: Address already in use\n" % (name.encode(), port)
            check(results, "%s on a taken port: exit 1 and one line naming it" % name,
                  done.returncode == 1 and done.stderr == said, (done.returncode, done.stderr))


def wait_for_workers(pid, count):
    """The children of `pid` once there are `count` (at most TIMEOUT s)."""
    workers = []
    deadline = time.monotonic() + TIMEOUT
    while len(workers) < count and time.monotonic() < deadline:
        time.sleep(0.02)
        workers = children_of(pid)
    return workers


def stop_parent(server, workers):
    """SIGTERM to a forking server's parent: its exit status (None if it
    did not exit in time) and the workers still there after TIMEOUT s."""
    server.process.send_signal(signal.SIGTERM)
    try:
        status = server.process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        status = None
    deadline = time.monotonic() + TIMEOUT
    while any(os.path.exists("/proc/%d" % pid) for pid in workers) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    return status, [pid for pid in workers if os.path.exists("/proc/%d" % pid)]


def kill_all(pids):
    for pid in pids:  # stopped by PID whatever happened before
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def hello_processes_checks(bin_dir, results):
    """--processes=2: two workers answer on one port; SIGTERM to the parent
    stops them both, and it exits 0."""
    server = ServerProcess(os.path.join(bin_dir, "final_hello"), "--processes=2",
                           "--logging=warning", stderr=subprocess.DEVNULL)
    workers = []
    with server:
        # The ready line comes before the fork: wait for both workers.
        workers = wait_for_workers(server.pid, 2)
        answers = [request(server.port, "GET", "/") for _ in range(4)]
        check(results, "hello --processes=2: two workers, and GET / is 200 from them",
              len(workers) == 2 and all(status == 200 and body == b"Hello, world"
                                        for status, _, body in answers), (workers, answers))
        status, left = stop_parent(server, workers)
        check(results, "hello --processes=2: SIGTERM to the parent stops both workers, exit 0",
              status == 0 and not left, (status, left))
    kill_all(workers)


def listening_sockets(port):
    """How many sockets listen on 127.0.0.1:`port` (/proc/net/tcp: state 0A)."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return sum(1 for row in rows if row[1] == "0100007F:%04X" % port and row[3] == "0A")


def hello_reuse_port_checks(bin_dir, results):
    """--reuse_port: the workers are forked first and each listens on a
    socket of its own bound to --port; with --port=0 it refuses to start."""
    program = os.path.join(bin_dir, "final_hello")
    refused = subprocess.run([program, "--port=0", "--reuse_port"], capture_output=True,
                             timeout=TIMEOUT)
    check(results, "hello --reuse_port --port=0: exit 2, saying a port is needed",
          refused.returncode == 2 and b"--reuse_port needs a --port" in refused.stderr,
          (refused.returncode, refused.stderr))
    # A port for the workers: ours is bound with SO_REUSEPORT too and never
    # listens, so it holds the port for them and takes no connection.
    with socket.socket() as placeholder:
        placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        server = ServerProcess(program, "--processes=2", "--port=%d" % port, "--reuse_port",
                               "--logging=warning", stderr=subprocess.DEVNULL)
        workers = []
        with server:
            workers = wait_for_workers(server.pid, 2)
            deadline = time.monotonic() + TIMEOUT
            while listening_sockets(port) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            listening = listening_sockets(port)
            answers = [request(server.port, "GET", "/") for _ in range(8)]
            check(results, "hello --processes=2 --reuse_port: two workers, two listening "
                  "sockets on the port, and GET / is 200",
                  server.port == port and len(workers) == 2 and listening == 2 and
                  all(status == 200 and body == b"Hello, world" for status, _, body in answers),
                  (server.port, workers, listening, answers))
            status, left = stop_parent(server, workers)
            check(results, "hello --processes=2 --reuse_port: SIGTERM to the parent stops both "
                  "workers, exit 0", status == 0 and not left, (status, left))
        kill_all(workers)


def chat_checks(bin_dir, results):
    with ServerProcess(os.path.join(bin_dir, "final_chat"), stderr=subprocess.DEVNULL) as server:
        status, headers, _ = request(server.port, "GET", "/")
        check(results, "chat: / redirects to the page", status == 302 and headers.get("Location") == "/chat",
              (status, headers))
        status, headers, page = request(server.port, "GET", "/chat")
        check(results, "chat: GET /chat is the page, which loads chat.js",
              status == 200 and b"/chat/static/chat.js" in page, status)
        check(results, "chat: the page is templates/index.html rendered, its inbox empty at first",
              re.search(rb'<div id="inbox">\s*</div>', page) and b"{%" not in page, page)
        status, headers, script = request(server.port, "GET", "/chat/static/chat.js")
        check(results, "chat: the page's script is served", status == 200 and b"/chat/updates" in script,
              status)

        # A long poll with no messages waits; a message posted meanwhile answers it.
        answer = {}

        def poll():
            body, headers = form({"cursor": ""})
            started = time.monotonic()
            answer["response"] = request(server.port, "POST", "/chat/updates", body, headers)
            answer["waited"] = time.monotonic() - started

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.5)
        waiting = poller.is_alive()
        body, headers = form({"body": "hi <b>there</b>"})
        status, _, created = request(server.port, "POST", "/chat/new", body, headers)
        poller.join(TIMEOUT)
        message = json.loads(created) if status == 200 else {}
        check(results, "chat: POST /chat/new answers the message, its html escaped",
              status == 200 and message.get("body") == "hi <b>there</b>" and
              "hi &lt;b&gt;there&lt;/b&gt;" in message.get("html", ""), (status, created))
        polled = answer.get("response")
        messages = json.loads(polled[2])["messages"] if polled and polled[0] == 200 else []
        check(results, "chat: a waiting long poll gets the new message",
              waiting and not poller.is_alive() and [m["id"] for m in messages] == [message.get("id")],
              (waiting, polled))
        body, headers = form({"cursor": message.get("id", "")})
        second = {}

        def poll_after():
            second["response"] = request(server.port, "POST", "/chat/updates", body, headers)

        poller = threading.Thread(target=poll_after)
        poller.start()
        time.sleep(0.3)
        check(results, "chat: a poll with the latest cursor waits", poller.is_alive())
        form_body, form_headers = form({"body": "second"})
        status, _, created = request(server.port, "POST", "/chat/new", form_body, form_headers)
        second_message = json.loads(created) if status == 200 else {}
        poller.join(TIMEOUT)
        got = second.get("response")
        bodies = [m["body"] for m in json.loads(got[2])["messages"]] if got and got[0] == 200 else []
        check(results, "chat: ...and gets only the newer message", bodies == ["second"], got)

        # A page opened now shows both messages, rendered by the server into
        # its inbox: each one's "html" as /chat/new answered it.
        status, _, page = request(server.port, "GET", "/chat")
        rendered = [(m.get("html") or "<none>").encode() for m in (message, second_message)]
        check(results, "chat: GET /chat now has both messages in its inbox, in order",
              status == 200 and re.search(rb'<div id="inbox">\s*' + re.escape(rendered[0]) + rb"\s*"
                                          + re.escape(rendered[1]) + rb"\s*</div>", page), page)


def tcpecho_checks(bin_dir, results):
    with ServerProcess(os.path.join(bin_dir, "final_tcpecho_server"), stderr=subprocess.PIPE) as server:
        client = subprocess.run([os.path.join(bin_dir, "final_tcpecho_client"), "--port=%d" % server.port,
                                 "--message=hello, echo"], capture_output=True, timeout=TIMEOUT)
        check(results, "tcpecho: the client prints the server's answer",
              client.returncode == 0 and b"Response from server: hello, echo" in client.stdout,
              (client.returncode, client.stdout, client.stderr))
    refused = subprocess.run([os.path.join(bin_dir, "final_tcpecho_client"), "--port=1"],
                             capture_output=True, timeout=TIMEOUT)
    check(results, "tcpecho: a refused connection is a clear error, exit 1",
          refused.returncode == 1 and b"Connection refused" in refused.stderr, refused.stderr)


def file_upload_checks(bin_dir, results):
    with ServerProcess(os.path.join(bin_dir, "final_file_upload"), stderr=subprocess.DEVNULL) as server:
        body, headers = multipart([("file", "a.txt", b"alpha"), ("file", "b.bin", bytes(range(256)) * 40)])
        status, _, answer = request(server.port, "POST", "/post", body, headers)
        check(results, "file_upload: POST /post lists each file and its size",
              status == 200 and answer == b"a.txt: 5 bytes\nb.bin: 10240 bytes\n", (status, answer))
        big = os.urandom(1 << 20) * 24  # 24 MiB: over the server's 10 MiB limit for other routes
        status, _, answer = request(server.port, "PUT", "/big.iso", big)
        check(results, "file_upload: PUT streams 24 MiB through data_received",
              status == 200 and answer == b"big.iso: %d bytes\n" % len(big), (status, answer))
        # Only the head is sent: the server answers from the Content-Length
        # alone (sending the body would hit the closed connection).
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as peer:
            peer.sendall(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                         b"Content-Type: multipart/form-data; boundary=b\r\n\r\n" % len(big))
            status_line = peer.makefile("rb").readline()
        check(results, "file_upload: a 24 MiB form is over the limit: 413",
              status_line.startswith(b"HTTP/1.1 413 "), status_line)
        status, _, answer = request(server.port, "GET", "/")
        check(results, "file_upload: the page has the form", status == 200 and b"multipart/form-data" in answer,
              status)


EXAMPLES = {"hello": hello_checks, "chat": chat_checks, "tcpecho": tcpecho_checks,
            "file_upload": file_upload_checks}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="the folder with the example programs")
    parser.add_argument("--only", help="comma-separated: " + ",".join(EXAMPLES))
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(EXAMPLES)
    results = []
    for name in names:
        try:
            EXAMPLES[name](args.bin, results)
        except Exception as error:  # a crash of one example must not hide the others
            results.append(("%s: ran to the end" % name, False, repr(error)))
    failed = 0
    for name, passed, detail in results:
        print("%s  %s%s" % ("PASS" if passed else "FAIL", name, "" if passed else ": %r" % (detail,)))
        failed += not passed
    print("summary: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
