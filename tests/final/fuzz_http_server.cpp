// fuzz_http_server.cpp: a libFuzzer target for the whole server side of
// final/: the bytes a client sends, read by HTTPServer over a real
// loopback connection, routed by a web::Application to a handler that
// reads every argument, cookie, file and path group a handler can read.
//
//   make fuzz FUZZ_TARGETS=fuzz_http_server FUZZ_SECONDS=60     (clang, libFuzzer)
//   build/bin/fuzz_http_server_replay tests/final/fuzz_corpus/http_server   (any compiler)
//   FUZZ_VERBOSE=1 build/bin/fuzz_http_server_replay FILE     (prints what the server said)
//
// The input is what one client sends before it half-closes (shutdown
// SHUT_WR, as `nc -q` does); the harness reads the answers until the
// server closes. What the server promises, checked on every input:
//
// * it never crashes, hangs (each input is bounded by a deadline) or
//   leaves the connection open after the client is done;
// * everything it writes is a sequence of whole HTTP/1.1 responses;
// * no response is a 500: bad bytes (bad percent-encoding, invalid UTF-8,
//   a broken body) are the client's fault, a 4xx, never the server's.
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "tornado/gen.h"
#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/log.h"
#include "tornado/tcpclient.h"
#include "tornado/web.h"
#include "fuzz_read_everything.h"

namespace {

void check(bool condition) {
    if (!condition) std::abort();  // libFuzzer keeps the input that got here
}

// One server for the whole run: making a loop and a listener per input
// would cost more than the input.
struct Server {
    tornado::IOLoop loop;
    std::unique_ptr<tornado::Application> app;
    tornado::HTTPServer* server = nullptr;

    Server() {
        // Error answers are what most inputs earn: no log line for each.
        tornado::gen_log.set_level(tornado::LogLevel::none);
        tornado::app_log.set_level(tornado::LogLevel::none);
        tornado::access_log.set_level(tornado::LogLevel::none);
        app = std::make_unique<tornado::Application>(std::vector<tornado::URLSpec>{
            {"/p/([^/]*)/(.*)", tornado::handler<ReadEverything>()},
            {"/.*", tornado::handler<ReadEverything>()},
        });
        tornado::HTTPServerOptions options;
        options.max_body_size = 1024 * 1024;
        options.idle_connection_timeout = std::chrono::seconds(2);
        options.body_timeout = std::chrono::seconds(2);
        server = &app->listen(0, "127.0.0.1", options);
    }
};

// Whether `rest` is where a response may end: the end of the answer, or
// the next response.
bool at_boundary(std::string_view rest) { return rest.empty() || rest.starts_with("HTTP/1.1 "); }

// Splits `answer` into whole responses, checking each: a status line, a
// head, then a body of its Content-Length, or none (HEAD, 1xx, 204, 304).
// The handler's bodies and the error pages never hold "HTTP/1.1 ", so the
// next response is recognised by its start.
void check_responses(std::string_view answer) {
    while (!answer.empty()) {
        check(answer.starts_with("HTTP/1.1 "));
        int status = std::atoi(std::string(answer.substr(9, 3)).c_str());
        check(status >= 100 && status < 600);
        check(status != 500);
        std::size_t head_end = answer.find("\r\n\r\n");
        check(head_end != std::string_view::npos);
        std::string_view head = answer.substr(0, head_end);
        std::size_t length_at = head.find("\r\nContent-Length: ");
        std::size_t body = 0;
        if (length_at != std::string_view::npos) body = std::atoll(head.data() + length_at + 18);
        std::size_t with_body = head_end + 4 + body;
        if (with_body <= answer.size() && at_boundary(answer.substr(with_body))) {
            answer.remove_prefix(with_body);
        } else {
            check(at_boundary(answer.substr(head_end + 4)));  // a response without its body
            answer.remove_prefix(head_end + 4);
        }
    }
}

// Sends `data`, half-closes, and returns everything the server says until
// it closes. The read starts first: the server may answer (and close)
// before it has read all of the data.
tornado::Task<std::string> send_and_read(std::uint16_t port, std::string_view data) {
    tornado::TCPClient client;
    std::shared_ptr<tornado::IOStream> stream = co_await client.connect("127.0.0.1", port);
    tornado::Future<std::string> answer = stream->read_until_close();
    try {
        co_await stream->write(data);
        ::shutdown(stream->fileno(), SHUT_WR);
    } catch (const tornado::StreamClosedError&) {
        // Closed by the server before it took everything: its answer stands.
    }
    co_return co_await std::move(answer);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    static Server* server = new Server();  // never destroyed: the process ends with the run
    std::string_view data(reinterpret_cast<const char*>(bytes), size);
    std::string answer;
    try {
        answer = server->loop.run_sync(
            [&] { return send_and_read(server->server->port(), data); }, std::chrono::seconds(5));
    } catch (const tornado::TimeoutError&) {
        check(false);  // the server neither answered nor closed
    } catch (const tornado::StreamClosedError&) {
        // A reset after an error answer: what came before it is lost too.
        return 0;
    }
    static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fwrite(answer.data(), 1, answer.size(), stderr);
    check_responses(answer);
    return 0;
}
