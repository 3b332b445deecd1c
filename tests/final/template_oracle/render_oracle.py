#!/usr/bin/python3
"""render_oracle.py: what Python Tornado's RequestHandler.render() answers
for the pages of render/templates/, the oracle of web_template_test.cpp.

Serves the same routes as the C++ test (an Application on 127.0.0.1 and a
free port, stopped at the end), fetches each page and writes
render_expected.json beside this file: path -> {"code", "body"}.

    /usr/bin/python3 tests/final/template_oracle/render_oracle.py

Needs Debian's python3-tornado (6.2), which only /usr/bin/python3 sees.
"""
import json
import os

import tornado.httpclient
import tornado.ioloop
import tornado.web

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "render")

# The requests the C++ test makes: (path, extra request headers).
REQUESTS = [
    ("/page?q=%3Cq%3E", {"X-Test": "t&t"}),
    ("/string", {}),
    ("/needs-arg", {}),
    ("/no-body", {}),
    ("/error", {}),
    ("/locale", {}),
    ("/no-autoescape", {}),
]


class Entry(tornado.web.UIModule):
    def render(self, entry):
        return self.render_string("entry.html", entry=entry)

    def css_files(self):
        return ["entry.css"]

    def embedded_javascript(self):
        return "var e = 1;"

    def html_body(self):
        return "<!-- entry -->"


def shout(handler, text):
    return text.upper() + " at " + handler.request.path


class PageHandler(tornado.web.RequestHandler):
    def get_current_user(self):
        return "ann"

    def get(self):
        self.render("page.html", greeting="Hello <you>", entry={"title": "A & B"})


class StringHandler(tornado.web.RequestHandler):
    def get(self):
        self.write(self.render_string("plain.html", title="<t>"))


def template_handler(name):
    class Handler(tornado.web.RequestHandler):
        def get(self):
            self.render(name, title="<t>")

    return Handler


def application():
    return tornado.web.Application(
        [
            (r"/page", PageHandler),
            tornado.web.url(r"/story/([0-9]+)", StringHandler, name="story"),
            (r"/string", StringHandler),
            (r"/needs-arg", template_handler("needs_arg.html")),
            (r"/no-body", template_handler("no_body.html")),
            (r"/error", template_handler("error.html")),
            (r"/locale", template_handler("locale.html")),
        ],
        template_path=os.path.join(ROOT, "templates"),
        static_path=os.path.join(ROOT, "static"),
        ui_modules={"Entry": Entry},
        ui_methods={"shout": shout},
    )


def unescaped_application():
    # Tornado keeps one loader per template_path for every Application of
    # the process, made with the settings of the first to ask: another
    # spelling of the folder gets this one its own.
    return tornado.web.Application(
        [(r"/no-autoescape", template_handler("plain.html"))],
        template_path=os.path.join(ROOT, "templates", "."),
        autoescape=None,
    )


async def fetch_all(ports):
    client = tornado.httpclient.AsyncHTTPClient()
    answers = {}
    for path, headers in REQUESTS:
        port = ports[1] if path == "/no-autoescape" else ports[0]
        response = await client.fetch(
            "http://127.0.0.1:%d%s" % (port, path), headers=headers, raise_error=False
        )
        answers[path] = {"code": response.code, "body": response.body.decode("utf-8")}
    return answers


def main():
    servers = [application().listen(0, "127.0.0.1"), unescaped_application().listen(0, "127.0.0.1")]
    ports = [list(server._sockets.values())[0].getsockname()[1] for server in servers]
    answers = tornado.ioloop.IOLoop.current().run_sync(lambda: fetch_all(ports), timeout=30)
    for server in servers:
        server.stop()
    with open(os.path.join(HERE, "render_expected.json"), "w", encoding="utf-8") as out:
        json.dump(answers, out, indent=1, ensure_ascii=False, sort_keys=True)
        out.write("\n")
    print("wrote render_expected.json:", ", ".join("%s %d" % (p, a["code"]) for p, a in answers.items()))


if __name__ == "__main__":
    main()
