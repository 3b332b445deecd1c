// The guide, step 10: HTTP/3 (10_http3.md beside this file). Step 9 over
// HTTP/3 as well: one more option, and the add-on tornado::http3 linked.
// QUIC has no cleartext, so a certificate is needed.
//
//   build/bin/guide_10_http3 --port=8443 --certfile=cert.pem --keyfile=key.pem
//   curl -k -i https://127.0.0.1:8443/        (HTTP/1.1 over TLS: alt-svc: h3=":8443")
//   gtlsclient 127.0.0.1 8443 https://127.0.0.1:8443/   (the same page over HTTP/3, UDP 8443)
//
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tornado/gen.h"
#include "tornado/http2.h"
#include "tornado/http3.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

class MainHandler : public tornado::RequestHandler {
public:
    // templates/index.html escapes {{ name }}: a name of "<script>" is shown, not run.
    void get(const tornado::PathArgs&) override {
        render("index.html", {{"name", get_argument("name", "world")}, {"story_ids", {1, 2, 3}}});
    }
};

class StoryHandler : public tornado::RequestHandler {
public:
    // args[0]: what the route's group ([0-9]+) matched.
    void get(const tornado::PathArgs& args) override { write("this is story " + args[0]); }
};

class FetchHandler : public tornado::RequestHandler {
public:
    // The route's arguments (make_app()), as Tornado's initialize(upstream).
    void initialize(std::string upstream) { upstream_ = std::move(upstream); }

    // While the coroutine waits, the loop serves other requests: even the
    // upstream's own, when the upstream is this server.
    tornado::Task<void> get_async(tornado::PathArgs) override {
        tornado::AsyncHTTPClient client;
        tornado::HTTPResponse response = co_await client.fetch(upstream_, /*raise_error=*/false);
        // 599: no answer at all (refused, timed out); an upstream's 404 is an answer.
        if (response.code == 599) throw tornado::HTTPError(502, "no answer from " + upstream_);
        render("fetched.html",
               {{"url", upstream_}, {"code", response.code}, {"body", response.body}});
    }

private:
    std::string upstream_;
};

// Tornado's EchoWebSocket. The bool says whether a message was binary: the answer is text anyway.
class EchoSocket : public tornado::WebSocketHandler {
public:
    void on_message(std::string message, bool) override { write_message("You said: " + message); }
};

// Tornado's make_app(): the routes, for main() and for step 6's test. On
// the heap: an Application is neither copied nor moved.
std::unique_ptr<tornado::Application> make_app(const std::string& upstream) {
    std::vector<tornado::URLSpec> routes = {
        {"/", tornado::handler<MainHandler>()},
        // The third field names the route, for reverse_url.
        {"/story/([0-9]+)", tornado::handler<StoryHandler>(), "story"},
        {"/fetch", tornado::handler<FetchHandler>(upstream)},
        {"/ws/echo", tornado::handler<EchoSocket>()},
    };
    // GUIDE_TEMPLATE_DIR, set by CMakeLists.txt, is this folder's templates/:
    // Tornado's os.path.join(os.path.dirname(__file__), "templates").
    tornado::ApplicationSettings settings{.template_path = GUIDE_TEMPLATE_DIR};
    return std::make_unique<tornado::Application>(std::move(routes), std::move(settings));
}

static auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
static auto& upstream = tornado::define("upstream", "http://127.0.0.1:8888/story/1",
                                        "the URL /fetch fetches (default: this server's story 1)");
static auto& certfile = tornado::define("certfile", std::string(), "serve HTTPS: PEM certificate");
static auto& keyfile = tornado::define("keyfile", std::string(), "serve HTTPS: PEM private key");

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    if (certfile->empty()) {
        std::fprintf(stderr,
                     "guide_10_http3: QUIC has no cleartext: give --certfile and --keyfile\n");
        return 2;
    }
    std::unique_ptr<tornado::Application> app = make_app(*upstream);
    // HTTP/2 beside HTTP/1.1 over TLS (ALPN), and HTTP/3 over UDP on the
    // same port number; the HTTPS answers say so (Alt-Svc). The WebSocket
    // still goes over HTTP/1.1.
    tornado::HTTPServerOptions options;
    options.http2 = true;
    options.http3 = true;
    options.ssl_options = tornado::SSLOptions{.certfile = *certfile, .keyfile = *keyfile};
    tornado::HTTPServer& server =
        app->listen(static_cast<std::uint16_t>(*port), "127.0.0.1", options);
    // --port=0 lets the system pick the port: this line names it, for scripts.
    std::printf("Listening on https://127.0.0.1:%u/\n", unsigned{server.port()});
    std::fflush(stdout);
    tornado::IOLoop& loop = tornado::IOLoop::current();
    // Ctrl-C or SIGTERM: stop accepting, finish the requests in progress, exit 0.
    loop.install_signal_handlers();
    loop.start();
}
