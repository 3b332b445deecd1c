// http_parse_bench.cpp: chapter 05's request parser against Node.js's
// http_parser 2.9 (Debian's libhttp-parser-dev), on the same bytes.
//
// Three requests: the one wrk sends (small GET), a browser's GET of about
// 750 bytes, and a small form POST. For each one:
//
//   BM_Course         what HTTP1Connection does per request: find the end
//                     of the head (as IOStream::read_until does), then
//                     parse_request_head() and body_framing(), and take the
//                     body. Output: std::string copies in an HTTPHeaders.
//   BM_HttpParser     http_parser_execute() with callbacks that collect
//                     (name, value) spans pointing into the input: no copies.
//   BM_HttpParserCopy the same, but the callbacks copy each name and value
//                     into std::strings, as HTTPHeaders holds them.
//
// items/s is requests per second on one core. The chapter README discusses
// the ratio ("What the benchmark shows"). The http_parser half is built
// only when CMake found the library and defined COURSE_HAVE_HTTP_PARSER.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "httputil.h"
#include "sample_requests.h"

#if COURSE_HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

namespace {

using sample_requests::kBrowserGet;
using sample_requests::kFormPost;
using sample_requests::kSmallGet;

void report(benchmark::State& state, const std::string& request) {
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(request.size()));
}

void BM_Course(benchmark::State& state, const std::string& request) {
    for (auto _ : state) {
        std::string_view data = request;
        std::size_t head_end = data.find("\r\n\r\n") + 4;
        course::RequestHead head = course::parse_request_head(data.substr(0, head_end));
        course::BodyFraming framing = course::body_framing(head.line, head.headers);
        std::string body(data.substr(head_end, framing.length));
        benchmark::DoNotOptimize(head);
        benchmark::DoNotOptimize(body);
    }
    report(state, request);
}
BENCHMARK_CAPTURE(BM_Course, small_get, kSmallGet);
BENCHMARK_CAPTURE(BM_Course, browser_get, kBrowserGet);
BENCHMARK_CAPTURE(BM_Course, form_post, kFormPost);

#if COURSE_HAVE_HTTP_PARSER

// What the callbacks collect: spans into the input (or copies of them).
template <typename Text>
struct Collected {
    Text url;
    std::vector<std::pair<Text, Text>> headers;
    Text body;
    bool in_value = false;  // the last callback was a header value
    bool complete = false;
};

template <typename Text>
void extend(Text& text, const char* at, std::size_t length) {
    if constexpr (std::is_same_v<Text, std::string>) {
        text.append(at, length);
    } else if (text.empty()) {
        text = Text(at, length);
    } else {  // a continuation: the spans are adjacent in the input
        text = Text(text.data(), text.size() + length);
    }
}

template <typename Text>
Collected<Text>& collected(http_parser* parser) {
    return *static_cast<Collected<Text>*>(parser->data);
}

template <typename Text>
http_parser_settings make_settings() {
    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_url = [](http_parser* p, const char* at, std::size_t n) {
        extend(collected<Text>(p).url, at, n);
        return 0;
    };
    // A field can arrive in pieces; a new name starts after a value.
    settings.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
        Collected<Text>& c = collected<Text>(p);
        if (c.in_value || c.headers.empty()) c.headers.emplace_back();
        c.in_value = false;
        extend(c.headers.back().first, at, n);
        return 0;
    };
    settings.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
        Collected<Text>& c = collected<Text>(p);
        c.in_value = true;
        extend(c.headers.back().second, at, n);
        return 0;
    };
    settings.on_body = [](http_parser* p, const char* at, std::size_t n) {
        extend(collected<Text>(p).body, at, n);
        return 0;
    };
    settings.on_message_complete = [](http_parser* p) {
        collected<Text>(p).complete = true;
        return 0;
    };
    return settings;
}

template <typename Text>
void run_http_parser(benchmark::State& state, const std::string& request) {
    const http_parser_settings settings = make_settings<Text>();
    for (auto _ : state) {
        Collected<Text> result;
        http_parser parser;
        http_parser_init(&parser, HTTP_REQUEST);
        parser.data = &result;
        std::size_t parsed =
            http_parser_execute(&parser, &settings, request.data(), request.size());
        if (parsed != request.size() || !result.complete) state.SkipWithError("http_parser failed");
        benchmark::DoNotOptimize(result);
    }
    report(state, request);
}

void BM_HttpParser(benchmark::State& state, const std::string& request) {
    run_http_parser<std::string_view>(state, request);
}
BENCHMARK_CAPTURE(BM_HttpParser, small_get, kSmallGet);
BENCHMARK_CAPTURE(BM_HttpParser, browser_get, kBrowserGet);
BENCHMARK_CAPTURE(BM_HttpParser, form_post, kFormPost);

void BM_HttpParserCopy(benchmark::State& state, const std::string& request) {
    run_http_parser<std::string>(state, request);
}
BENCHMARK_CAPTURE(BM_HttpParserCopy, small_get, kSmallGet);
BENCHMARK_CAPTURE(BM_HttpParserCopy, browser_get, kBrowserGet);
BENCHMARK_CAPTURE(BM_HttpParserCopy, form_post, kFormPost);

#endif  // COURSE_HAVE_HTTP_PARSER

}  // namespace
