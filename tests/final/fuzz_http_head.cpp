// fuzz_http_head.cpp: a libFuzzer target for final/'s request-head parser
// and the other parsers of tornado/httputil.h.
//
//   make fuzz FUZZ_TARGETS=fuzz_http_head FUZZ_SECONDS=60       (clang, libFuzzer)
//   build/bin/fuzz_http_head_replay tests/final/fuzz_corpus/http_head   (any compiler; CTest
//                                                                        final.fuzz.http_head_corpus)
//
// Besides crashes (ASan, UBSan), it checks what the parser promises:
// whatever parse_request_head accepts is well formed (a token method, a
// target without spaces or control characters, HTTP/1.x, names that are
// tokens in Http-Header-Case, values without CR, LF, NUL or surrounding
// whitespace, at most one Host and one in every HTTP/1.1 head), the headers
// written out parse back to the same fields, and the one-pass parser agrees
// with the line-by-line HTTPHeaders::parse.
// The same input also goes through parse_qs_bytes, parse_cookie, the
// multipart parser and parse_http_date. Replay a crash with:
// build-clang/bin/fuzz_http_head crash-<sha1>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tornado/httputil.h"

namespace {

void check(bool condition) {
    if (!condition) std::abort();  // libFuzzer keeps the input that got here
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

void fuzz_head(std::string_view data) {
    tornado::RequestHead head;
    try {
        head = tornado::parse_request_head(std::string(data));
    } catch (const tornado::HTTPInputError& error) {
        check(error.status() == 400 || error.status() == 505 || error.status() == 431);
        return;
    }
    check(tornado::is_token(head.start_line.method));
    check(!head.start_line.path.empty());
    for (char c : head.start_line.path) check(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
    check(head.start_line.version.size() == 8 && head.start_line.version.starts_with("HTTP/1."));
    std::string again;
    for (auto [name, value] : head.headers) {
        check(tornado::is_token(name));
        check(tornado::normalize_header_name(name) == name);
        check(value.find_first_of(std::string("\r\n\0", 3)) == std::string_view::npos);
        check(value.empty() || (!is_ows(value.front()) && !is_ows(value.back())));
        again.append(name).append(": ").append(value).append("\r\n");
    }
    tornado::HTTPHeaders reparsed = tornado::HTTPHeaders::parse(again);
    check(reparsed == head.headers);
    check(head.headers.count("Host") <= 1);
    // RFC 9112 section 3.2: only HTTP/1.0 may leave Host out.
    check(head.start_line.version == "HTTP/1.0" || head.headers.count("Host") == 1);
}

void fuzz_others(std::string_view data) {
    tornado::ArgumentMap arguments = tornado::parse_qs_bytes(data, true);
    for (const auto& [name, values] : arguments) check(!values.empty());
    tornado::CookieMap cookies = tornado::parse_cookie(data);
    (void)cookies;
    (void)tornado::parse_http_date(data);
    (void)tornado::split_host_and_port(data);
    (void)tornado::parse_request_range(data);
    try {
        tornado::FileMap files;
        tornado::parse_body_arguments("multipart/form-data; boundary=xYz", data, arguments, files);
        for (const auto& [name, list] : files) check(!name.empty() && !list.empty());
    } catch (const tornado::HTTPInputError&) {
    }
    try {
        (void)tornado::HTTPHeaders::parse(data);
    } catch (const tornado::HTTPInputError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    std::string_view data(reinterpret_cast<const char*>(bytes), size);
    fuzz_head(data);
    fuzz_others(data);
    return 0;
}
