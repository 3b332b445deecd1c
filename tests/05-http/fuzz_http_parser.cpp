// fuzz_http_parser.cpp: libFuzzer target for httputil.h (clang only).
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++
//   cmake --build build-fuzz --target fuzz_http_parser
//   mkdir -p /tmp/corpus && build-fuzz/bin/fuzz_http_parser -max_total_time=60 /tmp/corpus
//
// The input is treated as a request head, a chunk size line and a query
// string. Besides crashes (ASan, UBSan), it checks what the parser promises:
// whatever it accepts is well formed (names are tokens, values hold no
// CR, LF or NUL), and accepted headers parse again to the same fields.
// Replay a crash with: build-fuzz/bin/fuzz_http_parser crash-<sha1>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "httputil.h"

namespace {

void check(bool condition) {
    if (!condition) std::abort();  // libFuzzer saves the input that got here
}

void fuzz_head(std::string_view data) {
    try {
        course::RequestHead head = course::parse_request_head(data);
        check(!head.line.method.empty() && !head.line.target.empty());
        std::string again;
        for (const auto& [name, value] : head.headers) {
            check(!name.empty() && name.find_first_of(" \t:\r\n") == std::string::npos);
            check(value.find_first_of(std::string("\r\n\0", 3)) == std::string::npos);
            again += name + ": " + value + "\r\n";
        }
        course::HTTPHeaders reparsed = course::HTTPHeaders::parse(again);
        check(reparsed.size() == head.headers.size());
        course::BodyFraming framing = course::body_framing(head.line, head.headers);
        check(framing.kind != course::BodyFraming::Kind::None ||
              (!head.headers.contains("Content-Length") &&
               !head.headers.contains("Transfer-Encoding")));
    } catch (const course::HTTPInputError& error) {
        check(error.status() >= 400 && error.status() < 600);
    }
}

void fuzz_chunk_size(std::string_view data) {
    try {
        std::uint64_t size = course::parse_chunk_size(data);
        check(size != 0 || data.front() == '0');
    } catch (const course::HTTPInputError& error) {
        check(error.status() == 400);
    }
}

volatile std::size_t g_sink;  // keeps the results alive at -O1

void fuzz_query(std::string_view data) {
    course::QueryArguments arguments = course::parse_query(data);
    std::size_t total = 0;
    for (const auto& [name, values] : arguments) total += name.size() + values.size();
    check(course::url_unescape(data).size() <= data.size());
    g_sink = total;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    std::string_view data(reinterpret_cast<const char*>(bytes), size);
    fuzz_head(data);
    fuzz_chunk_size(data);
    fuzz_query(data);
    return 0;
}
