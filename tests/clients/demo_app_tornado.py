#!/usr/bin/python3
"""The demo app's oracle: the contract in final/examples/demo_app/README.md written as a real Tornado app.

    /usr/bin/python3 tests/clients/demo_app_tornado.py [--port=8888] [--address=127.0.0.1]
                                                       [--static_path=DIR] [--debug]

build/bin/demo_app (final/examples/demo_app/) is the C++ twin of this file.
When the contract leaves a detail open, what this app answers under
Debian's Tornado 6.2 (python3-tornado) is the answer; and
tests/clients/final_demo_app_test.py checks both programs the same way
(`--oracle` runs this one).

Choices the contract leaves open, made here (the C++ app copies them):

- Chat files. GET /chat renders final/examples/chat/templates/index.html
  (the C++ app's own template, as Tornado's chat demo renders its page:
  messages= every kept message, oldest first, each put into #inbox by
  {% module Template("message.html", message=message) %}); GET
  /chat/static/PATH is a StaticFileHandler over final/examples/chat/static/
  (the page loads /chat/static/chat.js and /chat/static/chat.css). Both
  paths are relative to the repository.
- --static_path defaults to final/examples/demo_app/static/; GET
  /static/PATH is a StaticFileHandler over it (registered as a route, not
  through the `static_path` setting, so there are no /favicon.ico and
  /robots.txt routes).
- /query and /form report values exactly as sent (no stripping); /form's
  "args" are the body's arguments only.
- /stream?chunks=N writes `chunk 0\\n` ... `chunk N-1\\n` (counting from 0,
  as range(N)), flushing after each; N defaults to 3.
- /sleep and /blocking: ms defaults to 100.
- /cookies/set sets one cookie per query argument (its last value) and
  answers an empty body (a value with a space or a control character makes
  Tornado's set_cookie raise: a 500, unchecked). /login answers an empty
  body, and 400 when `user` is missing.
- /template: `name` defaults to "world"; the template is the C++ app's own
  file, final/examples/demo_app/templates/template.html.
- Chat messages: {"id": uuid4 string, "body": text, "html":
  MESSAGE_TEMPLATE rendered: templates/message.html, the same file the page
  renders each kept message with}. /chat/new, /chat/updates and /chat/ws share
  one room: a message sent on any of them reaches the long pollers and every
  WebSocket client (as the message's JSON, a text frame). The server keeps
  the last 200 messages. An updates request whose cursor is empty or unknown
  gets every kept message (waiting if there are none).
- SIGINT/SIGTERM: stop accepting, wait for requests in progress (at most 3
  s, so a waiting long poll delays the exit by that much), close the rest,
  exit 0.
- --debug is Tornado's debug setting except autoreload (it would re-exec the
  process, and the test and the benchmark track it by PID).
"""
import asyncio
import json
import os
import signal
import time
import uuid

import tornado.locks
import tornado.netutil
import tornado.template
from tornado import web, websocket
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.options import define, options

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_STATIC = os.path.join(REPOSITORY, "final", "examples", "demo_app", "static")
DEMO_TEMPLATES = os.path.join(REPOSITORY, "final", "examples", "demo_app", "templates")
CHAT_STATIC = os.path.join(REPOSITORY, "final", "examples", "chat", "static")
CHAT_TEMPLATES = os.path.join(REPOSITORY, "final", "examples", "chat", "templates")

MAX_BODY_SIZE = 10 * 1024 * 1024
MAX_HEADER_SIZE = 64 * 1024
SHUTDOWN_GRACE_SECONDS = 3.0

define("port", default=8888, help="port to listen on (0 picks a free one)", type=int)
define("address", default="127.0.0.1", help="address to listen on")
define("static_path", default=DEMO_STATIC, help="the folder /static/ serves")
define("debug", default=False, help="Tornado's debug mode (without autoreload)", type=bool)

# message.html, read and parsed once, at start (the C++ chat's one Loader
# keeps it the same way); the page's {% module Template %} loads it through
# the handler's loader instead.
MESSAGE_TEMPLATE = tornado.template.Loader(CHAT_TEMPLATES).load("message.html")


# Requests in progress, so that a stop can wait for them.
in_flight = set()


class BaseHandler(web.RequestHandler):
    def prepare(self):
        in_flight.add(self)

    def on_finish(self):
        in_flight.discard(self)

    def on_connection_close(self):
        in_flight.discard(self)


class MainHandler(BaseHandler):
    def get(self):
        self.write("Hello, world")

    head = get


class QueryHandler(BaseHandler):
    def get(self):
        self.write({name: [value.decode() for value in values]
                    for name, values in self.request.query_arguments.items()})


class FormHandler(BaseHandler):
    def post(self):
        args = {name: [value.decode() for value in values]
                for name, values in self.request.body_arguments.items()}
        files = {field: [{"filename": f.filename, "content_type": f.content_type,
                          "size": len(f.body)} for f in uploads]
                 for field, uploads in self.request.files.items()}
        self.write({"args": args, "files": files})


class EchoHandler(BaseHandler):
    def post(self):
        self.set_header("Content-Type", "application/octet-stream")
        self.write(self.request.body)

    put = post


class JsonHandler(BaseHandler):
    def post(self):
        try:
            value = json.loads(self.request.body)
        except ValueError:
            raise web.HTTPError(400, "malformed JSON")
        self.write({"received": value})


class StoryHandler(BaseHandler):
    def get(self, number):
        self.write("this is story " + number)


class LinkHandler(BaseHandler):
    def get(self):
        self.write('<a href="%s">link to story 1</a>' % self.reverse_url("story", "1"))


class TemporaryRedirectHandler(BaseHandler):
    def get(self):
        self.redirect("/")


class PermanentRedirectHandler(BaseHandler):
    def get(self):
        self.redirect("/", permanent=True)


class PhotoHandler(BaseHandler):
    def get(self, name):
        self.write("photo " + name)


class ErrorCodeHandler(BaseHandler):
    def get(self, code):
        raise web.HTTPError(int(code))


class CrashHandler(BaseHandler):
    def get(self):
        raise RuntimeError("/crash fails on purpose")


class StreamHandler(BaseHandler):
    async def get(self):
        chunks = int(self.get_argument("chunks", "3"))
        for i in range(chunks):
            self.write("chunk %d\n" % i)
            await self.flush()


class SleepHandler(BaseHandler):
    async def get(self):
        ms = int(self.get_argument("ms", "100"))
        await asyncio.sleep(ms / 1000)
        self.write("slept %d" % ms)


@web.stream_request_body
class PacedUploadHandler(BaseHandler):
    def prepare(self):
        super().prepare()
        self.pause_ms = int(self.get_argument("ms", "10"))
        if not 0 <= self.pause_ms <= 1000:
            raise web.HTTPError(400, "bad ms")
        self.bytes, self.pieces = 0, 0

    async def data_received(self, chunk):
        self.bytes += len(chunk)
        self.pieces += 1
        await asyncio.sleep(self.pause_ms / 1000)

    def post(self):
        self.write({"bytes": self.bytes, "pieces": self.pieces})

    put = post


class BlockingHandler(BaseHandler):
    async def get(self):
        ms = int(self.get_argument("ms", "100"))
        # time.sleep stands for blocking work; the default executor's
        # threads run it while the loop goes on serving.
        await IOLoop.current().run_in_executor(None, time.sleep, ms / 1000)
        self.write("done %d" % ms)


class CookieSetHandler(BaseHandler):
    def get(self):
        for name in self.request.query_arguments:
            self.set_cookie(name, self.get_query_argument(name, strip=False))


class CookieGetHandler(BaseHandler):
    def get(self):
        self.write({name: morsel.value for name, morsel in self.request.cookies.items()})


class LoginHandler(BaseHandler):
    def post(self):
        self.set_secure_cookie("user", self.get_argument("user"))


class MeHandler(BaseHandler):
    def get(self):
        user = self.get_secure_cookie("user")
        if user is None:
            raise web.HTTPError(403)
        self.write(user.decode())


class DemosHandler(BaseHandler):
    def get(self):
        self.render("demos.html")


class TemplateHandler(BaseHandler):
    def get(self):
        # Autoescape is on (Tornado's default: xhtml_escape).
        self.render("template.html", name=self.get_argument("name", "world"))


# --- chat ---------------------------------------------------------------------

class ChatRoom:
    """The messages kept, the long polls waiting for newer ones, and the
    WebSocket clients."""

    def __init__(self, keep=200):
        self.messages = []
        self.keep = keep
        self.new_message = tornado.locks.Condition()
        self.sockets = set()

    def messages_after(self, cursor):
        newer = []
        for message in reversed(self.messages):
            if message["id"] == cursor:
                break
            newer.append(message)
        newer.reverse()
        return newer

    def post(self, body):
        message = {"id": str(uuid.uuid4()), "body": body}
        message["html"] = MESSAGE_TEMPLATE.generate(message=message).decode()
        self.messages.append(message)
        del self.messages[:-self.keep]
        self.new_message.notify_all()
        for client in list(self.sockets):
            try:
                client.write_message(message)
            except websocket.WebSocketClosedError:
                self.sockets.discard(client)
        return message


room = ChatRoom()


class ChatPageHandler(BaseHandler):
    def get(self):
        self.render("index.html", messages=room.messages)

    # The chat's templates, not the app's template_path (the demo app's own).
    def get_template_path(self):
        return CHAT_TEMPLATES


class ChatNewHandler(BaseHandler):
    def post(self):
        self.write(room.post(self.get_argument("body", strip=False)))


class ChatUpdatesHandler(BaseHandler):
    async def post(self):
        cursor = self.get_argument("cursor", "")
        messages = room.messages_after(cursor)
        while not messages:
            self.waiting = room.new_message.wait()
            try:
                await self.waiting
            except asyncio.CancelledError:
                return
            messages = room.messages_after(cursor)
        if self.request.connection.stream.closed():
            return
        self.write({"messages": messages})

    def on_connection_close(self):
        super().on_connection_close()
        waiting = getattr(self, "waiting", None)
        if waiting is not None:
            waiting.cancel()


class ChatSocketHandler(websocket.WebSocketHandler):
    def open(self):
        room.sockets.add(self)

    def on_close(self):
        room.sockets.discard(self)

    def on_message(self, message):
        room.post(json.loads(message)["body"])


class EchoSocketHandler(websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


def make_app():
    return web.Application([
        (r"/", MainHandler),
        (r"/demos", DemosHandler),
        (r"/query", QueryHandler),
        (r"/form", FormHandler),
        (r"/echo", EchoHandler),
        (r"/json", JsonHandler),
        web.url(r"/story/([0-9]+)", StoryHandler, name="story"),
        (r"/link", LinkHandler),
        (r"/redirect/temp", TemporaryRedirectHandler),
        (r"/redirect/perm", PermanentRedirectHandler),
        (r"/pictures/(.*)", web.RedirectHandler, {"url": "/photos/{0}"}),
        (r"/photos/(.*)", PhotoHandler),
        (r"/error/([0-9]+)", ErrorCodeHandler),
        (r"/crash", CrashHandler),
        (r"/stream", StreamHandler),
        (r"/sleep", SleepHandler),
        (r"/upload/paced", PacedUploadHandler),
        (r"/blocking", BlockingHandler),
        (r"/static/(.*)", web.StaticFileHandler, {"path": options.static_path}),
        (r"/cookies/set", CookieSetHandler),
        (r"/cookies/get", CookieGetHandler),
        (r"/login", LoginHandler),
        (r"/me", MeHandler),
        (r"/template", TemplateHandler),
        (r"/ws/echo", EchoSocketHandler),
        (r"/chat", ChatPageHandler),
        (r"/chat/static/(.*)", web.StaticFileHandler, {"path": CHAT_STATIC}),
        (r"/chat/new", ChatNewHandler),
        (r"/chat/updates", ChatUpdatesHandler),
        (r"/chat/ws", ChatSocketHandler),
    ], cookie_secret="demo-app-secret", template_path=DEMO_TEMPLATES, debug=options.debug,
       autoreload=False)


async def wait_for_requests_in_progress(grace):
    deadline = time.monotonic() + grace
    while in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def main():
    options.parse_command_line()  # also sets up Tornado's log format on stderr
    server = HTTPServer(make_app(), max_body_size=MAX_BODY_SIZE,
                        max_header_size=MAX_HEADER_SIZE)
    # The C++ server's listen backlog (tornado/netutil.h, kDefaultBacklog),
    # not Tornado's 128: thousands of clients connecting at once
    # (tests/bench/fanout_bench.py) would otherwise overflow the queue and
    # wait for SYN retries, which would measure the backlog, not the server.
    sockets = tornado.netutil.bind_sockets(options.port, options.address, backlog=4096)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    print("Listening on http://%s:%d/" % (options.address, port), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()

    server.stop()  # closes the listening sockets: new connections are refused
    await wait_for_requests_in_progress(SHUTDOWN_GRACE_SECONDS)
    for client in list(room.sockets):
        client.close(1001, "server stopping")
    try:
        await asyncio.wait_for(server.close_all_connections(), timeout=1.0)
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    asyncio.run(main())
