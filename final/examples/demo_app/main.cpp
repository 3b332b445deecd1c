// demo_app: the course's showcase, the C++ twin of a small Tornado
// application (its contract: README.md beside this file, "The contract";
// its Python twin, which the black-box test also runs, is
// tests/clients/demo_app_tornado.py).
//
//   build/bin/demo_app [--port=8888] [--address=127.0.0.1] [--static_path=DIR]
//                      [--template_path=DIR] [--debug] [--processes=N] [--reuse_port]
//                      [--xheaders] [--redis=HOST:PORT] [--http2] [--http3]
//                      [--certfile=cert.pem --keyfile=key.pem]
//
// --processes=N forks N processes (0: one per core) that share the
// listening socket, as Tornado's documented deployment does
// (tornado::fork_processes); SIGTERM to the first one stops them all,
// each finishing its requests in flight. With --reuse_port each process
// listens on a socket of its own instead (SO_REUSEPORT, Tornado's
// listen(reuse_port=True)); it needs a --port other than 0. Behind a proxy such as nginx
// (final/deploy/), --xheaders takes the client's address from X-Real-IP /
// X-Forwarded-For and the scheme from X-Scheme / X-Forwarded-Proto.
// --redis=127.0.0.1:6379 makes the chat one room across every process and
// every machine that names the same Redis (chat_redis.h); without it each
// process keeps its own messages, in memory. --http2 serves HTTP/2 beside
// HTTP/1.1 on the same port (final/http2): by ALPN with --certfile, and in
// cleartext to a client that opens with HTTP/2's preface. --http3 (with
// --certfile) serves HTTP/3 too (final/http3), over UDP on the same port
// number, and the HTTPS answers say so (Alt-Svc: h3=":PORT"), so a
// browser comes back over HTTP/3; one process only.
//
// Each handler shows one part of tornado/web.h (and /ws/echo and /chat/ws
// of tornado/websocket.h); the comment above it says which.
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "chat.h"
#include "chat_redis.h"
#include "tornado/escape.h"
#include "tornado/gen.h"
#include "tornado/http2.h"
#include "tornado/ioloop.h"
#include "tornado/netutil.h"
#include "tornado/options.h"
#include "tornado/process.h"
#include "tornado/web.h"
#include "tornado/websocket.h"
#if TORNADO_HAVE_HTTP3
#include "tornado/http3.h"
#endif

namespace {

using tornado::PathArgs;
using tornado::Task;

auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
auto& static_path =
    tornado::define("static_path", std::string(DEMO_STATIC_DIR), "the folder /static/ serves");
auto& template_path = tornado::define("template_path", std::string(DEMO_TEMPLATE_DIR),
                                      "the folder render() finds templates in");
auto& debug = tornado::define("debug", false,
                              "show exception details in error pages; reread changed templates");
auto& certfile = tornado::define("certfile", std::string(),
                                 "serve HTTPS with this PEM certificate (and its chain)");
auto& keyfile = tornado::define("keyfile", std::string(),
                                "the certificate's PEM private key (default: in --certfile)");
auto& processes = tornado::define("processes", 1,
                                  "processes sharing the port (0: one per core); "
                                  "SIGTERM to the first stops them all");
auto& reuse_port = tornado::define("reuse_port", false,
                                   "fork first, then each process listens on its own "
                                   "socket (SO_REUSEPORT); needs a --port other than 0");
auto& redis = tornado::define("redis", std::string(),
                              "share the chat through Redis pub/sub at HOST:PORT "
                              "(a numeric address); empty: in this process only");
auto& http2 = tornado::define("http2", false,
                              "serve HTTP/2 as well: by ALPN over TLS, by prior knowledge in "
                              "cleartext (final/http2)");
auto& http3 = tornado::define("http3", false,
                              "serve HTTP/3 as well, over UDP on the same port (final/http3; "
                              "needs --certfile, one process)");
auto& xheaders = tornado::define("xheaders", false,
                                 "behind a proxy: the client's address and scheme from "
                                 "X-Real-IP / X-Forwarded-For and X-Scheme / X-Forwarded-Proto");

constexpr std::size_t kMaxBodySize = 10 * 1024 * 1024;
constexpr std::size_t kMaxHeaderSize = 64 * 1024;
constexpr auto kShutdownGrace = std::chrono::seconds(3);

// A number from the query, or 400 naming the argument.
long number_argument(const tornado::RequestHandler& handler, std::string_view name,
                     long default_value, long max_value) {
    std::string text = handler.get_argument(name, std::to_string(default_value));
    try {
        std::size_t used = 0;
        long value = std::stol(text, &used);
        if (used == text.size() && value >= 0 && value <= max_value) return value;
    } catch (const std::exception&) {}
    throw tornado::HTTPError(400, "bad " + std::string(name) + ": " + text);
}

// Synchronous: write() and return; HEAD answers like GET without a body.
class MainHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello, world"); }
    void head(const PathArgs& args) override { get(args); }
};

// Query arguments, in order, as JSON (keys kept in order: ordered_json).
class QueryHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs&) override {
        nlohmann::ordered_json answer = nlohmann::ordered_json::object();
        for (const auto& [name, values] : request().query_arguments) answer[name] = values;
        write(answer);
    }
};

// Form bodies, urlencoded or multipart, with files.
class FormHandler : public tornado::RequestHandler {
public:
    void post(const PathArgs&) override {
        nlohmann::ordered_json args = nlohmann::ordered_json::object();
        for (const auto& [name, values] : request().body_arguments) args[name] = values;
        nlohmann::ordered_json files = nlohmann::ordered_json::object();
        for (const auto& [field, uploads] : request().files) {
            nlohmann::ordered_json list = nlohmann::ordered_json::array();
            for (const tornado::HTTPFile& file : uploads) {
                list.push_back({{"filename", file.filename},
                                {"content_type", file.content_type},
                                {"size", file.body.size()}});
            }
            files[field] = list;
        }
        write(nlohmann::ordered_json{{"args", args}, {"files", files}});
    }
};

// The body back, byte for byte.
class EchoHandler : public tornado::RequestHandler {
public:
    void post(const PathArgs&) override {
        set_header("Content-Type", "application/octet-stream");
        write(request().body);
    }
    void put(const PathArgs& args) override { post(args); }
};

// JSON in, JSON out; malformed JSON is the client's fault: 400.
class JsonHandler : public tornado::RequestHandler {
public:
    void post(const PathArgs&) override {
        tornado::JSON value;
        try {
            value = tornado::json_decode(request().body);
        } catch (const tornado::JSONDecodeError& error) {
            throw tornado::HTTPError(400, std::string("malformed JSON: ") + error.what());
        }
        write(tornado::JSON{{"received", value}});
    }
};

// A route with a group, named "story" for reverse_url.
class StoryHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs& args) override { write("this is story " + args[0]); }
};

class LinkHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs&) override {
        write("<a href=\"" + reverse_url("story", "1") + "\">link to story 1</a>");
    }
};

class RedirectToRoot : public tornado::RequestHandler {
public:
    void initialize(bool permanent) { permanent_ = permanent; }
    void get(const PathArgs&) override { redirect("/", permanent_); }

private:
    bool permanent_ = false;
};

class PhotoHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs& args) override { write("photo " + args[0]); }
};

// HTTPError(N): status N and the default error page.
class ErrorCodeHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs& args) override {
        int code = args[0].size() <= 3 ? std::stoi(args[0]) : 0;
        if (code < 100 || code > 999) throw tornado::HTTPError(400, "no such status: " + args[0]);
        throw tornado::HTTPError(code);
    }
};

// Any exception: 500, logged with the request; the server goes on.
class CrashHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs&) override { throw std::runtime_error("/crash fails on purpose"); }
};

// Coroutine: each piece flushed on its own (chunked encoding), and the
// coroutine waits for the client to take it before writing the next.
// Pieces count from 0, as Python's range(N).
class StreamHandler : public tornado::RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        long chunks = number_argument(*this, "chunks", 3, 100'000);
        for (long i = 0; i < chunks; ++i) {
            write("chunk " + std::to_string(i) + "\n");
            co_await flush();
        }
    }
};

// Coroutine: waits without holding the loop.
class SleepHandler : public tornado::RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        long ms = number_argument(*this, "ms", 100, 60'000);
        co_await tornado::sleep(std::chrono::milliseconds(ms));
        write("slept " + std::to_string(ms));
    }
};

// A streamed body taken at the handler's pace: each piece is taken ?ms=N
// milliseconds after it came (data_received_async's Future), and until
// then the client waits (over HTTP/2 its stream's window stays shut;
// over HTTP/1.1 the socket's buffers fill). The answer counts what came.
class PacedUploadHandler : public tornado::RequestHandler {
public:
    bool stream_request_body() const override { return true; }
    void prepare() override { pause_ms_ = number_argument(*this, "ms", 10, 1'000); }
    tornado::Future<void> data_received_async(std::string chunk) override {
        bytes_ += static_cast<long long>(chunk.size());
        ++pieces_;
        return tornado::sleep(std::chrono::milliseconds(pause_ms_));
    }
    void post(const PathArgs&) override {
        write(tornado::JSON{{"bytes", bytes_}, {"pieces", pieces_}});
    }
    void put(const PathArgs& args) override { post(args); }

private:
    long pause_ms_ = 0;
    long long bytes_ = 0;
    long long pieces_ = 0;
};

// Blocking work goes to the thread pool; the loop stays free meanwhile.
class BlockingHandler : public tornado::RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        long ms = number_argument(*this, "ms", 100, 60'000);
        co_await tornado::run_in_executor(
            [ms] { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); });
        write("done " + std::to_string(ms));
    }
};

class CookieSetHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs&) override {
        for (const auto& [name, values] : request().query_arguments) {
            // The names and values are the client's: set_cookie refuses
            // what a cookie cannot carry (a space in a name, a control
            // character), and that refusal is the client's fault, a 400.
            try {
                set_cookie(name, get_query_argument(name, /*strip=*/false));
            } catch (const std::invalid_argument& error) {
                throw tornado::HTTPError(400, error.what());
            }
        }
    }
};

class CookieGetHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs&) override {
        nlohmann::ordered_json answer = nlohmann::ordered_json::object();
        for (const auto& [name, value] : cookies()) answer[name] = value;
        write(answer);
    }
};

// Signed cookies: /login signs the user's name, /me checks the signature.
class LoginHandler : public tornado::RequestHandler {
public:
    void post(const PathArgs&) override { set_secure_cookie("user", get_argument("user")); }
};

class MeHandler : public tornado::RequestHandler {
public:
    std::optional<std::string> get_current_user() override { return get_secure_cookie("user"); }
    void get(const PathArgs&) override {
        if (!current_user()) throw tornado::HTTPError(403);
        write(*current_user());
    }
};

// render(): templates/template.html (the template_path setting), parsed
// once and kept (in --debug, read again on every request); the name is
// escaped by autoescape (xhtml_escape), as in Tornado.
class TemplateHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs&) override {
        render("template.html", {{"name", get_argument("name", "world")}});
    }
};

// The index of the demos, one line each (templates/demos.html, which the
// Tornado twin renders too).
class DemosHandler : public tornado::RequestHandler {
public:
    void get(const PathArgs&) override { render("demos.html"); }
};

// WebSocket: each message back with its opcode (text or binary). Pings are
// answered and a close echoed by the framework itself.
class EchoSocketHandler : public tornado::WebSocketHandler {
public:
    void on_message(std::string message, bool binary) override { write_message(message, binary); }
};

std::vector<tornado::URLSpec> routes(std::shared_ptr<chat::MessageBuffer> room) {
    using tornado::handler;
    std::vector<tornado::URLSpec> table = {
        {"/", handler<MainHandler>()},
        {"/demos", handler<DemosHandler>()},
        {"/query", handler<QueryHandler>()},
        {"/form", handler<FormHandler>()},
        {"/echo", handler<EchoHandler>()},
        {"/json", handler<JsonHandler>()},
        {"/story/([0-9]+)", handler<StoryHandler>(), "story"},
        {"/link", handler<LinkHandler>()},
        {"/redirect/temp", handler<RedirectToRoot>(false)},
        {"/redirect/perm", handler<RedirectToRoot>(true)},
        {"/pictures/(.*)", handler<tornado::RedirectHandler>("/photos/{0}")},
        {"/photos/(.*)", handler<PhotoHandler>()},
        {"/error/([0-9]+)", handler<ErrorCodeHandler>()},
        {"/crash", handler<CrashHandler>()},
        {"/stream", handler<StreamHandler>()},
        {"/sleep", handler<SleepHandler>()},
        {"/blocking", handler<BlockingHandler>()},
        {"/upload/paced", handler<PacedUploadHandler>()},
        {"/static/(.*)", handler<tornado::StaticFileHandler>(*static_path)},
        {"/cookies/set", handler<CookieSetHandler>()},
        {"/cookies/get", handler<CookieGetHandler>()},
        {"/login", handler<LoginHandler>()},
        {"/me", handler<MeHandler>()},
        {"/template", handler<TemplateHandler>()},
        {"/ws/echo", handler<EchoSocketHandler>()},
    };
    std::vector<tornado::URLSpec> chat_table = chat::chat_routes(
        std::move(room), chat::default_static_dir(), chat::default_template_dir());
    for (tornado::URLSpec& spec : chat_table) {
        table.push_back(std::move(spec));
    }
    return table;
}

}  // namespace

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    if (*processes < 0) {
        std::fprintf(stderr, "demo_app: --processes must be 0 (one per core) or more\n");
        return 2;
    }
    if (*reuse_port && *port == 0) {
        std::fprintf(stderr,
                     "demo_app: --reuse_port needs a --port other than 0 "
                     "(every process binds that port)\n");
        return 2;
    }
    // Bound before the fork, every process accepts on the same socket, and
    // every idle one wakes for a new connection that one of them will get.
    // With --reuse_port each binds its own after the fork: the kernel picks
    // a socket by a hash of the connection's addresses and wakes its
    // process alone.
    // With --http3 the port's number serves UDP too: port 0 must pick one
    // that is free for both (HTTPServer::listen does this itself; these
    // sockets are bound here, before the fork).
    const auto port_number = static_cast<std::uint16_t>(*port);
    std::vector<tornado::FileDescriptor> sockets;
    try {
        if (!*reuse_port)
            sockets = tornado::bind_sockets(port_number, *address, {.udp_too = *http3});
        if (*processes != 1) tornado::fork_processes(*processes);
        if (*reuse_port)
            sockets = tornado::bind_sockets(port_number, *address, {.reuse_port = true});
    } catch (const std::system_error& error) {  // the port is taken, say
        std::fprintf(stderr, "demo_app: %s\n", error.what());
        return 1;
    }
    const std::uint16_t bound_port = tornado::SocketAddress::local_of(sockets.front().get()).port();

    tornado::IOLoop loop;  // made after the fork: each process has its own
    tornado::ApplicationSettings settings;
    settings.debug = *debug;
    settings.cookie_secret = "demo-app-secret";
    settings.template_path = *template_path;
    auto room = std::make_shared<chat::MessageBuffer>();
    tornado::Application app(routes(room), settings);
    if (!redis->empty()) {
        auto [host, redis_port] = tornado::split_host_and_port(*redis);
        if (!tornado::is_valid_ip(host) || !redis_port || *redis_port < 1 || *redis_port > 65535) {
            std::fprintf(stderr, "demo_app: --redis needs a numeric IP and a port, not '%s'\n",
                         redis->c_str());
            return 2;
        }
        // Runs until the loop stops; the Task is dropped, the coroutine goes on.
        chat::relay_through_redis(room, host, static_cast<std::uint16_t>(*redis_port));
    }

    tornado::HTTPServerOptions server_options;
    server_options.max_body_size = kMaxBodySize;
    server_options.max_header_size = kMaxHeaderSize;
    server_options.shutdown_grace = kShutdownGrace;
    server_options.xheaders = *xheaders;
    server_options.http2 = *http2;
#if !TORNADO_HAVE_HTTP3
    if (*http3) {
        std::fprintf(stderr, "demo_app: built without final/http3 (ngtcp2 or nghttp3 not found)\n");
        return 2;
    }
#endif
    if (*http3 && (certfile->empty() || *processes != 1 || *reuse_port)) {
        std::fprintf(stderr, "demo_app: --http3 needs --certfile and --keyfile, and one process\n");
        return 2;
    }
    server_options.http3 = *http3;
    if (!certfile->empty())
        server_options.ssl_options =
            tornado::SSLOptions{.certfile = *certfile, .keyfile = *keyfile};
    tornado::HTTPServer server(app, server_options);
    server.add_sockets(std::move(sockets));

    loop.install_signal_handlers(kShutdownGrace);
    // Said once the process is ready for SIGTERM too (scripts start sending
    // signals when they read it), by one process of a group: by then the
    // supervisor above it takes SIGTERM as well.
    if (tornado::task_id().value_or(0) == 0) {
        std::printf("Listening on %s://%s:%u/\n", certfile->empty() ? "http" : "https",
                    address->c_str(), unsigned{bound_port});
        std::fflush(stdout);
    }
    loop.start();
    return 0;
}
