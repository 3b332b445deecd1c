// final_http_bench.cpp: final/'s request parser (tornado/httputil.h) on the
// bytes chapter 05's http_parse_bench.cpp uses, so that one run of
// micro_benchmarks sets it beside chapter 05's parser (BM_Course) and
// Node.js's http_parser 2.9 (BM_HttpParser, BM_HttpParserCopy, when Debian's
// libhttp-parser-dev was found):
//
//   build/bin/micro_benchmarks --benchmark_filter='BM_FinalHttp|BM_HttpParser|BM_Course'
//
//   BM_FinalHttpParse    what HTTP1Connection does per request: find the end
//                        of the head (IOStream::read_until), take it as a
//                        std::string (the stream's copy), parse_request_head
//                        (one pass; the headers keep that string), find the
//                        framing (Content-Length, Transfer-Encoding,
//                        Connection), and take the body.
//   BM_FinalHttpRequest  the same, then the HTTPServerRequest a request
//                        callback receives (path, query arguments, form
//                        body arguments).
//
// items/s is requests per second on one core.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "sample_requests.h"
#include "tornado/httputil.h"

namespace {

// The same bytes as http_parse_bench.cpp (sample_requests.h).
using sample_requests::kBrowserGet;
using sample_requests::kFormPost;
using sample_requests::kSmallGet;

struct Parsed {
    tornado::RequestHead head;
    std::string body;
};

Parsed parse(std::string_view data) {
    std::size_t head_end = data.find("\r\n\r\n") + 4;
    Parsed parsed{tornado::parse_request_head(std::string(data.substr(0, head_end))), {}};
    const tornado::HTTPHeaders& headers = parsed.head.headers;
    std::string_view length = headers.get_first("Content-Length");
    benchmark::DoNotOptimize(headers.contains("Transfer-Encoding"));
    benchmark::DoNotOptimize(headers.get_first("Connection"));
    std::size_t n = 0;
    for (char c : length) n = n * 10 + static_cast<std::size_t>(c - '0');
    parsed.body.assign(data.substr(head_end, n));
    return parsed;
}

void report(benchmark::State& state, const std::string& request) {
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(request.size()));
}

void BM_FinalHttpParse(benchmark::State& state, const std::string& request) {
    for (auto _ : state) {
        Parsed parsed = parse(request);
        benchmark::DoNotOptimize(parsed);
    }
    report(state, request);
}
BENCHMARK_CAPTURE(BM_FinalHttpParse, small_get, kSmallGet);
BENCHMARK_CAPTURE(BM_FinalHttpParse, browser_get, kBrowserGet);
BENCHMARK_CAPTURE(BM_FinalHttpParse, form_post, kFormPost);

void BM_FinalHttpRequest(benchmark::State& state, const std::string& request) {
    for (auto _ : state) {
        Parsed parsed = parse(request);
        // The start time a server passes is its loop's turn_time(): no clock read.
        auto made = std::make_shared<tornado::HTTPServerRequest>(
            std::move(parsed.head.start_line), std::move(parsed.head.headers), nullptr, nullptr,
            std::chrono::steady_clock::time_point{});
        made->body = std::move(parsed.body);
        made->parse_body();
        benchmark::DoNotOptimize(made);
    }
    report(state, request);
}
BENCHMARK_CAPTURE(BM_FinalHttpRequest, small_get, kSmallGet);
BENCHMARK_CAPTURE(BM_FinalHttpRequest, browser_get, kBrowserGet);
BENCHMARK_CAPTURE(BM_FinalHttpRequest, form_post, kFormPost);

}  // namespace
