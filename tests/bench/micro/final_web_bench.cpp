// final_web_bench.cpp: what final/'s web layer (tornado/web.h) adds to a
// request, without the sockets: the part of `final_hello`'s CPU time that
// `final_http_hello` does not spend (tests/bench/README.md, "framework").
//
//   build/bin/micro_benchmarks --benchmark_filter=BM_FinalWeb
//
//   BM_FinalWebHello  wrk's GET / through Application::start_request,
//                     headers_received and finish: the request object, the
//                     route, Tornado's hello-world handler (write, the Etag,
//                     Content-Length), its response head formatted. The
//                     connection is a stand-in: it writes the status line,
//                     the headers and the body into a buffer (without
//                     HTTP1Connection's framing checks, Date and Server)
//                     and sends nothing.
//
// items/s is requests per second on one core.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "sample_requests.h"
#include "tornado/httputil.h"
#include "tornado/ioloop.h"
#include "tornado/web.h"

namespace {

// Formats the response (the head, then the body) into a buffer it reuses,
// and sends nothing.
class FormattingConnection final : public tornado::HTTPConnection {
public:
    tornado::Future<void> write_headers(const tornado::ResponseStartLine& start_line,
                                        const tornado::HTTPHeaders& headers, std::string_view chunk) override {
        out_.clear();
        out_.append(start_line.version).append(" ").append(std::to_string(start_line.code)).append(" ");
        out_.append(start_line.reason).append("\r\n");
        headers.write_to(out_);
        out_.append("\r\n").append(chunk);
        benchmark::DoNotOptimize(out_.data());
        return tornado::Future<void>(nullptr);
    }
    tornado::Future<void> write(std::string_view chunk) override {
        out_.append(chunk);
        return tornado::Future<void>(nullptr);
    }
    void finish() override {}

private:
    std::string out_;
};

class HelloHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write("Hello, world"); }
};

void BM_FinalWebHello(benchmark::State& state) {
    tornado::IOLoop loop;  // the request's start time is its turn_time()
    tornado::Application app({{"/", tornado::handler<HelloHandler>()}});
    tornado::access_log.set_level(tornado::LogLevel::warning);  // as final_hello --logging=warning
    auto connection = std::make_shared<FormattingConnection>();
    const std::string& request = sample_requests::kSmallGet;
    for (auto _ : state) {
        tornado::RequestHead head = tornado::parse_request_head(request);
        std::unique_ptr<tornado::HTTPMessageDelegate> dispatcher = app.start_request(nullptr, connection);
        dispatcher->headers_received(std::move(head.start_line), std::move(head.headers));
        dispatcher->finish();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FinalWebHello);

}  // namespace
