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

#if COURSE_HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

namespace {

// wrk's request for http://127.0.0.1:8888/.
const std::string kSmallGet = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n\r\n";

// What a desktop browser sends for a page (about 750 bytes).
const std::string kBrowserGet =
    "GET /articles/2024/event-loops?page=2&sort=recent HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-User: ?1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Referer: https://www.example.com/articles/2024/\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\n"
    "Cookie: session=5f2b8c1e9a7d4e3f; theme=dark; _ga=GA1.2.1234567890.1700000000\r\n"
    "\r\n";

// A login form.
const std::string kFormPost =
    "POST /login HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\n"
    "Content-Length: 32\r\n"
    "\r\n"
    "user=alice&password=s3cret%21%21";

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
