// Tests for tornado/httputil.h: headers, the request-head parser (good and
// bad input), query strings, form bodies, cookies, dates, the request
// object. Expected values come from Python Tornado 6.2 where it agrees with
// the stricter rules of the demo app's contract (final/examples/demo_app/README.md).
#include "tornado/httputil.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using tornado::ArgumentMap;
using tornado::FileMap;
using tornado::HTTPHeaders;
using tornado::HTTPInputError;
using tornado::parse_request_head;

using Values = std::vector<std::string>;
using namespace std::string_literals;

// --- OrderedMap ---------------------------------------------------------------------

TEST(OrderedMap, KeepsTheOrderKeysFirstCameIn) {
    tornado::OrderedMap<int> map;
    map["b"] = 1;
    map["a"] = 2;
    map["b"] = 3;
    std::vector<std::string> keys;
    for (const auto& [key, value] : map) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"b", "a"}));
    EXPECT_EQ(map.at("b"), 3);
    EXPECT_TRUE(map.contains("a"));
    EXPECT_FALSE(map.contains("c"));
    EXPECT_THROW(map.at("c"), std::out_of_range);
    EXPECT_EQ(map.erase("b"), 1u);
    EXPECT_EQ(map.size(), 1u);
}

TEST(OrderedMap, ManyKeysUseAnIndexAndStayCorrect) {
    tornado::OrderedMap<int> map;
    for (int i = 0; i < 1000; ++i) map["k" + std::to_string(i)] = i;
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(map.at("k" + std::to_string(i)), i);
    EXPECT_EQ(map.begin()->first, "k0");
    EXPECT_EQ(map.erase("k500"), 1u);
    EXPECT_FALSE(map.contains("k500"));
    EXPECT_EQ(map.at("k999"), 999);
    tornado::OrderedMap<int> copy = map;
    EXPECT_EQ(copy.at("k998"), 998);
    EXPECT_EQ(copy, map);
}

// --- HTTPHeaders ----------------------------------------------------------------------

TEST(HTTPHeaders, NamesAreCaseInsensitiveAndNormalized) {
    HTTPHeaders headers;
    headers.add("content-type", "text/html");
    headers.add("X-CSRFToken", "a");
    EXPECT_EQ(headers.get("Content-Type"), "text/html");
    EXPECT_EQ(headers.get("CONTENT-TYPE"), "text/html");
    std::vector<std::string> names;
    for (auto [name, value] : headers) names.emplace_back(name);
    // Tornado's Http-Header-Case: each word capitalized, the rest lower case.
    EXPECT_EQ(names, (std::vector<std::string>{"Content-Type", "X-Csrftoken"}));
    EXPECT_EQ(tornado::normalize_header_name("x-forwarded-FOR"), "X-Forwarded-For");
}

TEST(HTTPHeaders, MultipleValuesJoinWithCommas) {
    HTTPHeaders headers;
    headers.add("Set-Cookie", "A=B");
    headers.add("Set-Cookie", "C=D");
    EXPECT_EQ(headers.get("set-cookie"), "A=B,C=D");
    EXPECT_EQ(headers.get_list("Set-Cookie"), (Values{"A=B", "C=D"}));
    EXPECT_EQ(headers.get_first("Set-Cookie"), "A=B");
    EXPECT_EQ(headers.count("set-cookie"), 2u);
    EXPECT_EQ(headers.get("Missing", "fallback"), "fallback");
    EXPECT_TRUE(headers.get_list("Missing").empty());
}

TEST(HTTPHeaders, SetReplacesAndRemoveDeletesEveryValue) {
    HTTPHeaders headers{{"A", "1"}, {"B", "2"}, {"a", "3"}};
    headers.set("a", "4");
    EXPECT_EQ(headers.get_list("A"), Values{"4"});
    EXPECT_EQ(headers.remove("b"), 1u);
    EXPECT_FALSE(headers.contains("B"));
    EXPECT_EQ(headers.size(), 1u);
    // Many replacements do not grow the storage for ever.
    for (int i = 0; i < 10000; ++i) headers.set("Counter", std::to_string(i));
    EXPECT_EQ(headers.get("Counter"), "9999");
    EXPECT_EQ(headers.get("A"), "4");
}

// Tornado's headers are a dict: a name set again keeps its place. A value
// that is refused changes nothing.
TEST(HTTPHeaders, SetKeepsTheNamesFirstPlace) {
    HTTPHeaders headers{{"Content-Type", "text/html"}, {"Server", "x"}, {"content-type", "more"}};
    headers.set("CONTENT-TYPE", "text/plain");
    std::string out;
    headers.write_to(out);
    EXPECT_EQ(out, "Content-Type: text/plain\r\nServer: x\r\n");
    EXPECT_THROW(headers.set("Content-Type", "a\r\nb"), std::invalid_argument);
    EXPECT_EQ(headers.get("Content-Type"), "text/plain");
    EXPECT_THROW(headers.set("Bad Name", "x"), std::invalid_argument);
    EXPECT_EQ(headers.size(), 2u);
}

// A parsed head's text holds its request line too, and a replaced value's
// old bytes stay behind: the size counts only what is written.
TEST(HTTPHeaders, WrittenSizeIsWhatWriteToWrites) {
    auto head = parse_request_head("GET / HTTP/1.1\r\nHost: a\r\nX-Long:   padded  \r\n\r\n");
    head.headers.set("Host", "b");
    head.headers.remove("X-Long");
    head.headers.add("Y", "2");
    std::string out;
    head.headers.write_to(out);
    EXPECT_EQ(out, "Host: b\r\nY: 2\r\n");
    EXPECT_EQ(head.headers.written_size(), out.size());
}

TEST(HTTPHeaders, RefusesCRLFAndBadNames) {
    HTTPHeaders headers;
    EXPECT_THROW(headers.add("X-Evil", "a\r\nSet-Cookie: b"), std::invalid_argument);
    EXPECT_THROW(headers.add("X-Evil", "a\nb"), std::invalid_argument);
    EXPECT_THROW(headers.add("X-Evil", "a\0b"s), std::invalid_argument);
    EXPECT_THROW(headers.set("X-Evil", "a\rb"), std::invalid_argument);
    EXPECT_THROW(headers.add("Bad Name", "x"), std::invalid_argument);
    EXPECT_THROW(headers.add("", "x"), std::invalid_argument);
    EXPECT_TRUE(headers.empty());
    headers.add("Tab-Is-Fine", "a\tb");
    EXPECT_EQ(headers.get("Tab-Is-Fine"), "a\tb");
}

TEST(HTTPHeaders, ParseAcceptsCRLFOrLFAndFolding) {
    HTTPHeaders headers = HTTPHeaders::parse(
        "content-type: text/html\r\nX-CSRFToken: a\r\nset-cookie: a\r\nSet-Cookie: b\r\n folded\r\n");
    EXPECT_EQ(headers.to_string(),
              "Content-Type: text/html\nX-Csrftoken: a\nSet-Cookie: a\nSet-Cookie: b folded\n");
    EXPECT_EQ(HTTPHeaders::parse("A: 1\nB:2  \n").get("B"), "2");
    EXPECT_THROW(HTTPHeaders::parse("no colon here\r\n"), HTTPInputError);
    EXPECT_THROW(HTTPHeaders::parse(" starts with space: x\r\n"), HTTPInputError);
    EXPECT_THROW(HTTPHeaders::parse("Bad Name: x\r\n"), HTTPInputError);
    EXPECT_THROW(HTTPHeaders::parse("A: x\x01y\r\n"), HTTPInputError);
}

TEST(HTTPHeaders, CopiesAndComparesByContent) {
    HTTPHeaders a{{"A", "1"}, {"B", "2"}};
    HTTPHeaders b = a;
    EXPECT_EQ(a, b);
    b.add("C", "3");
    EXPECT_FALSE(a == b);
    std::string out;
    a.write_to(out);
    EXPECT_EQ(out, "A: 1\r\nB: 2\r\n");
    auto all = a.get_all();
    EXPECT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1].first, "B");
}

// --- the request head ------------------------------------------------------------------

TEST(ParseRequestHead, ASmallGet) {
    auto head = parse_request_head("GET /search?q=a+b HTTP/1.1\r\nHost: example.com\r\naccept: */*\r\n\r\n");
    EXPECT_EQ(head.start_line.method, "GET");
    EXPECT_EQ(head.start_line.path, "/search?q=a+b");
    EXPECT_EQ(head.start_line.version, "HTTP/1.1");
    EXPECT_EQ(head.headers.get("host"), "example.com");
    EXPECT_EQ(head.headers.get("Accept"), "*/*");
    EXPECT_EQ(head.headers.field(1).name, "Accept");  // normalized in place
}

TEST(ParseRequestHead, ValuesAreTrimmedAndMayHoldTabsAndHighBytes) {
    auto head = parse_request_head(
        "GET / HTTP/1.0\r\nX-A:   spaced value \t \r\nX-B:\r\nX-C: caf\xc3\xa9\tx\r\n"
        "X-Long: 0123456789abcdef0123456789abcdef0123456789\r\n\r\n");
    EXPECT_EQ(head.headers.get("X-A"), "spaced value");
    EXPECT_EQ(head.headers.get("X-B"), "");
    EXPECT_TRUE(head.headers.contains("X-B"));
    EXPECT_EQ(head.headers.get("X-C"), "caf\xc3\xa9\tx");
    EXPECT_EQ(head.headers.get("X-Long"), "0123456789abcdef0123456789abcdef0123456789");
    EXPECT_EQ(head.start_line.version, "HTTP/1.0");
}

TEST(ParseRequestHead, SkipsEmptyLinesBeforeTheRequestLine) {
    auto head = parse_request_head("\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(head.start_line.method, "POST");
}

// RFC 9112 section 2.2 lets a recipient take a bare LF for CRLF, and
// Tornado does: `printf 'GET / HTTP/1.0\n\n' | nc` gets an answer.
TEST(ParseRequestHead, LinesMayEndInABareLF) {
    auto head = parse_request_head("\nGET /lf HTTP/1.0\nHost: a \nX-Mixed: b\r\nX-C: c\n\n");
    EXPECT_EQ(head.start_line.method, "GET");
    EXPECT_EQ(head.start_line.path, "/lf");
    EXPECT_EQ(head.start_line.version, "HTTP/1.0");
    EXPECT_EQ(head.headers.get("Host"), "a");
    EXPECT_EQ(head.headers.get("X-Mixed"), "b");
    EXPECT_EQ(head.headers.get("X-C"), "c");
    EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nHost: a\n\r\n").headers.get("Host"), "a");
}

TEST(ParseRequestHead, OtherTargetForms) {
    EXPECT_EQ(parse_request_head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").start_line.path, "*");
    EXPECT_EQ(parse_request_head("GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n").start_line.path,
              "http://a.example/x");
    EXPECT_EQ(parse_request_head("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n").start_line.path,
              "a.example:443");
}

// RFC 9112 section 3.2: Host is required in HTTP/1.1 (not in HTTP/1.0), may
// be empty, and is otherwise uri-host [ ":" port ] (RFC 3986's host: a
// reg-name, an IPv4 address, or an IP-literal in brackets; port = *DIGIT).
TEST(ParseRequestHead, HostValuesThatAreAccepted) {
    for (std::string host : {"example.com", "Example.COM:8080", "127.0.0.1", "127.0.0.1:8888", "[::1]", "[::1]:80",
                             "[2001:db8::7]", "[::ffff:192.0.2.1]:443", "[v1.fe80::a+en1]", "a%41b.example",
                             "a-b_c~d.example", "x!$&'()*+,;=y", "a.com:", "localhost:0", ""}) {
        auto head = parse_request_head("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
        EXPECT_EQ(head.headers.get("Host"), host);
    }
    EXPECT_FALSE(parse_request_head("GET / HTTP/1.0\r\n\r\n").headers.contains("Host"));
    EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nHost:   \r\n\r\n").headers.get("Host"), "");
    // An absolute-form target's authority is held to the same rules; Host is still required.
    EXPECT_EQ(parse_request_head("GET HTTPS://[::1]:8443?q HTTP/1.1\r\nHost: other\r\n\r\n").start_line.path,
              "HTTPS://[::1]:8443?q");
}

// Each refused head, with a part of the message it must give.
struct BadHead {
    std::string head;
    int status;
    std::string message;
};

void PrintTo(const BadHead& bad, std::ostream* out) { *out << ::testing::PrintToString(bad.head); }

class ParseRequestHeadRefuses : public ::testing::TestWithParam<BadHead> {};

TEST_P(ParseRequestHeadRefuses, WithAStatusAndAMessageNamingTheProblem) {
    const BadHead& bad = GetParam();
    try {
        parse_request_head(bad.head);
        FAIL() << "accepted: " << bad.head;
    } catch (const HTTPInputError& error) {
        EXPECT_EQ(error.status(), bad.status) << error.what();
        EXPECT_NE(std::string(error.what()).find(bad.message), std::string::npos)
            << "message: " << error.what() << " (wanted '" << bad.message << "')";
    }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseRequestHeadRefuses,
    ::testing::Values(
        BadHead{"GET /\r\n\r\n", 400, "no HTTP version"},
        BadHead{"GET  / HTTP/1.1\r\n\r\n", 400, "empty request target"},
        BadHead{"GET / HTTP/1.1 extra\r\n\r\n", 400, "more than three parts"},
        BadHead{"G(T / HTTP/1.1\r\n\r\n", 400, "method is not a token"},
        BadHead{"GET /a\x01 HTTP/1.1\r\n\r\n", 400, "malformed request target"},
        BadHead{"GET / HTTP/2.0\r\n\r\n", 505, "HTTP version not supported"},
        BadHead{"GET / HTTP/1.1x\r\n\r\n", 400, "malformed HTTP version"},
        BadHead{"GET / FTP/1.1\r\n\r\n", 400, "malformed HTTP version"},
        BadHead{"GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR"},
        BadHead{"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, "bare CR"},
        BadHead{"GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 400, "whitespace between header name and colon"},
        BadHead{"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400, "header name is not a token"},
        BadHead{"GET / HTTP/1.1\r\nNa(me: x\r\n\r\n", 400, "header name is not a token"},
        BadHead{"GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "empty header name"},
        BadHead{"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "no colon in header line"},
        BadHead{"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400, "obsolete line folding"},
        BadHead{"GET / HTTP/1.1\r\nA: b\0c\r\n\r\n"s, 400, "control character"},
        BadHead{"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400, "control character"},
        BadHead{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"},
        BadHead{"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400, "more than one Host"},
        BadHead{"GET / HTTP/1.1\r\n\r\n", 400, "no Host header in an HTTP/1.1 request"},
        BadHead{"GET / HTTP/1.9\r\nX-Host: a\r\n\r\n", 400, "no Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: a.com, b.com\r\n\r\n", 400, "invalid Host header: 'a.com, b.com'"},
        BadHead{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: a.com:x\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: a.com:80:81\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: [1.2.3.4]\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: [v1.]\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: user@a.com\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: a.com/x\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: a%4.com\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.1\r\nHost: caf\xc3\xa9.com\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET / HTTP/1.0\r\nHost: a\tb\r\n\r\n", 400, "invalid Host header"},
        BadHead{"GET http://a.com/x HTTP/1.1\r\n\r\n", 400, "no Host header"},
        BadHead{"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid authority in the request target"},
        BadHead{"GET http://:80/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid authority"},
        BadHead{"GET http://user@a.com/x HTTP/1.1\r\nHost: a.com\r\n\r\n", 400, "invalid authority"},
        BadHead{"GET https://a.com:x/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400, "invalid authority"},
        BadHead{"GET / HTTP/1.1\r\nHost: a\r\n", 400, "not ended by an empty line"},
        BadHead{"\r\n\r\n", 400, "malformed request line"}));

// --- where a body ends: one rule for the server and the client ----------------------------

// The HTTPInputError `call` throws, or a failure when it throws none.
template <typename F>
std::string input_error_of(F&& call) {
    try {
        call();
    } catch (const HTTPInputError& error) {
        EXPECT_EQ(error.status(), 400);
        return error.what();
    }
    ADD_FAILURE() << "no HTTPInputError";
    return "";
}

TEST(ParseChunkSize, HexDigitsWithOrWithoutCRLFAndExtensions) {
    using tornado::parse_chunk_size;
    EXPECT_EQ(parse_chunk_size("0"), 0u);
    EXPECT_EQ(parse_chunk_size("1a2B\r\n"), 0x1a2bu);
    EXPECT_EQ(parse_chunk_size("5;name=value\r\n"), 5u);
    EXPECT_EQ(parse_chunk_size("5 \t;name"), 5u);  // BWS before the ";"
    EXPECT_EQ(parse_chunk_size("ffffffffffffffff"), 0xffffffffffffffffu);
}

TEST(ParseChunkSize, RefusesAnythingElseNamingTheLine) {
    for (std::string line : {"", "0x5", "+5", "-5", " 5", "5 ", "5 x", "zz", "5;a\rb", "5\n", "10000000000000000"}) {
        std::string message = input_error_of([&] { tornado::parse_chunk_size(line); });
        EXPECT_TRUE(message.starts_with("invalid chunk size: '")) << line << ": " << message;
    }
    EXPECT_EQ(input_error_of([] { tornado::parse_chunk_size("5;a\rb\r\n"); }), "invalid chunk size: '5;a\\rb'");
}

TEST(ParseContentLength, DigitsAndRepeatsThatAgree) {
    using tornado::parse_content_length;
    EXPECT_EQ(parse_content_length(HTTPHeaders{}), std::nullopt);
    EXPECT_EQ(parse_content_length(HTTPHeaders{{"Content-Length", "0"}}), 0u);
    EXPECT_EQ(parse_content_length(HTTPHeaders{{"Content-Length", "5, 5"}}), 5u);
    EXPECT_EQ(parse_content_length(HTTPHeaders{{"Content-Length", "5"}, {"content-length", "5"}}), 5u);
    // Past 64 bits: the largest number, which every body limit refuses.
    EXPECT_EQ(parse_content_length(HTTPHeaders{{"Content-Length", "99999999999999999999999"}}),
              std::numeric_limits<std::uint64_t>::max());
}

TEST(ParseContentLength, RefusesOthersInTornadosWords) {
    for (std::string value : {"", "+5", "-1", "0x5", "1 2", "5,", "abc", "5.0"}) {
        std::string message = input_error_of([&] { tornado::parse_content_length(HTTPHeaders{{"Content-Length", value}}); });
        EXPECT_TRUE(message.starts_with("Only integer Content-Length is allowed: ")) << value << ": " << message;
    }
    EXPECT_EQ(input_error_of([] { tornado::parse_content_length(HTTPHeaders{{"Content-Length", "3, 4"}}); }),
              "Multiple unequal Content-Lengths: '3, 4'");
    EXPECT_EQ(input_error_of([] {
                  tornado::parse_content_length(HTTPHeaders{{"Content-Length", "3"}, {"Content-Length", "4"}});
              }),
              "Multiple unequal Content-Lengths: '3,4'");
}

TEST(ParseBodyFraming, ChunkedLengthOrNeither) {
    using tornado::parse_body_framing;
    tornado::BodyFraming none = parse_body_framing(HTTPHeaders{{"Host", "a"}}, "Request");
    EXPECT_FALSE(none.chunked);
    EXPECT_EQ(none.content_length, std::nullopt);
    EXPECT_EQ(parse_body_framing(HTTPHeaders{{"Content-Length", "7"}}, "Request").content_length, 7u);
    EXPECT_TRUE(parse_body_framing(HTTPHeaders{{"Transfer-Encoding", "Chunked"}}, "Request").chunked);
}

TEST(ParseBodyFraming, RefusesWhatWouldBeAmbiguous) {
    using tornado::parse_body_framing;
    EXPECT_EQ(input_error_of([] {
                  parse_body_framing(HTTPHeaders{{"Content-Length", "3"}, {"Transfer-Encoding", "chunked"}}, "Response");
              }),
              "Response with both Transfer-Encoding and Content-Length");
    for (std::string coding : {"gzip", "gzip, chunked", "chunked, chunked", "identity", ""}) {
        std::string message = input_error_of([&] { parse_body_framing(HTTPHeaders{{"Transfer-Encoding", coding}}, "Request"); });
        EXPECT_EQ(message, "Unsupported Transfer-Encoding '" + coding + "'");
    }
}

TEST(ParseContentLengthValue, DigitsOnly) {
    EXPECT_EQ(tornado::parse_content_length_value("42"), 42u);
    EXPECT_EQ(tornado::parse_content_length_value(" 42"), std::nullopt);
    EXPECT_EQ(tornado::parse_content_length_value(""), std::nullopt);
}

TEST(ParseRequestStartLine, AsTornado) {
    auto line = tornado::parse_request_start_line("GET /foo HTTP/1.1");
    EXPECT_EQ(line, (tornado::RequestStartLine{"GET", "/foo", "HTTP/1.1"}));
    EXPECT_THROW(tornado::parse_request_start_line("GET /foo"), HTTPInputError);
    EXPECT_THROW(tornado::parse_request_start_line("GET /foo HTTP/1.1 x"), HTTPInputError);
    try {
        tornado::parse_request_start_line("GET / HTTP/3.0");
        FAIL();
    } catch (const HTTPInputError& error) {
        EXPECT_EQ(error.status(), 505);
    }
    auto response = tornado::parse_response_start_line("HTTP/1.1 200 OK");
    EXPECT_EQ(response.version, "HTTP/1.1");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.reason, "OK");
    EXPECT_EQ(tornado::parse_response_start_line("HTTP/1.0 404 Not Found").reason, "Not Found");
    EXPECT_THROW(tornado::parse_response_start_line("HTTP/1.1 OK"), HTTPInputError);
    // RFC 9112 section 4: status-code = 3DIGIT; the reason may be absent.
    EXPECT_EQ(tornado::parse_response_start_line("HTTP/1.1 204").code, 204);
    EXPECT_EQ(tornado::parse_response_start_line("HTTP/1.1 200 ").reason, "");
    for (const char* bad : {"HTTP/1.1 2000 OK", "HTTP/1.1 20 OK", "HTTP/1.1 2000", "HTTP/1.1 20",
                             "HTTP/1.1 200x OK", "HTTP/1.1 +20 OK"}) {
        EXPECT_THROW(tornado::parse_response_start_line(bad), HTTPInputError) << bad;
    }
}

// --- query strings -------------------------------------------------------------------------

TEST(ParseQs, AsPythonsParseQsWithBlankValues) {
    ArgumentMap args = tornado::parse_qs_bytes("a=1&b=%20x&a=2&c&d=&e=%zz&f=a+b%2Bc&&=v", true);
    std::vector<std::string> keys;
    for (const auto& [key, values] : args) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c", "d", "e", "f", ""}));
    EXPECT_EQ(args.at("a"), (Values{"1", "2"}));
    EXPECT_EQ(args.at("b"), Values{" x"});
    EXPECT_EQ(args.at("c"), Values{""});
    EXPECT_EQ(args.at("e"), Values{"%zz"});
    EXPECT_EQ(args.at("f"), Values{"a b+c"});
    EXPECT_EQ(args.at(""), Values{"v"});
}

TEST(ParseQs, WithoutBlankValues) {
    ArgumentMap args = tornado::parse_qs_bytes("a=1&b=%20x&a=2&c&d=&e=%zz");
    EXPECT_EQ(args.size(), 3u);
    EXPECT_FALSE(args.contains("c"));
    EXPECT_FALSE(args.contains("d"));
    auto pairs = tornado::parse_qsl("x=%41%4a%ff&y=1");
    ASSERT_EQ(pairs.size(), 2u);
    EXPECT_EQ(pairs[0].second, "AJ\xff");  // raw bytes
}

TEST(UrlConcat, AppendsToTheExistingQuery) {
    EXPECT_EQ(tornado::url_concat("http://example.com/foo", {{"c", "d"}}), "http://example.com/foo?c=d");
    EXPECT_EQ(tornado::url_concat("http://example.com/foo?a=b", {{"c", "d"}}), "http://example.com/foo?a=b&c=d");
    EXPECT_EQ(tornado::url_concat("http://example.com/foo?a=b", {{"c", "d"}, {"c", "d2"}}),
              "http://example.com/foo?a=b&c=d&c=d2");
    EXPECT_EQ(tornado::url_concat("http://a/b?x=1", {{"c", "d e"}, {"f", "\xc3\xbc&"}}),
              "http://a/b?x=1&c=d+e&f=%C3%BC%26");
    EXPECT_EQ(tornado::url_concat("http://a/b?x=1%2B&y#frag", {{"c", "d"}}), "http://a/b?x=1%2B&y=&c=d#frag");
    EXPECT_EQ(tornado::url_concat("http://a/b", {}), "http://a/b");
}

// --- bodies ------------------------------------------------------------------------------------

TEST(ParseBodyArguments, UrlEncoded) {
    ArgumentMap args;
    FileMap files;
    tornado::parse_body_arguments("application/x-www-form-urlencoded; charset=UTF-8", "a=1&b=&a=%C3%A9", args, files);
    EXPECT_EQ(args.at("a"), (Values{"1", "\xc3\xa9"}));
    EXPECT_EQ(args.at("b"), Values{""});
    EXPECT_TRUE(files.empty());
}

TEST(ParseBodyArguments, OtherTypesAreLeftAlone) {
    ArgumentMap args;
    FileMap files;
    tornado::parse_body_arguments("application/json", "{\"a\": 1}", args, files);
    EXPECT_TRUE(args.empty());
}

const std::string kMultipart =
    "--1234\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n"
    "--1234\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\n"
    "file body\r\n"
    "--1234\r\nContent-Disposition: form-data; name=\"g\"; filename*=UTF-8''%E2%82%AC.txt\r\n\r\neuro\r\n"
    "--1234\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nsecond\r\nwith lines\r\n"
    "--1234--\r\n";

TEST(ParseBodyArguments, MultipartWithFiles) {
    ArgumentMap args;
    FileMap files;
    tornado::parse_body_arguments("multipart/form-data; boundary=1234", kMultipart, args, files);
    EXPECT_EQ(args.at("a"), (Values{"value", "second\r\nwith lines"}));
    ASSERT_EQ(files.at("f").size(), 1u);
    EXPECT_EQ(files.at("f")[0], (tornado::HTTPFile{"x.txt", "text/plain", "file body"}));
    EXPECT_EQ(files.at("g")[0], (tornado::HTTPFile{"\xe2\x82\xac.txt", "application/unknown", "euro"}));
}

TEST(ParseBodyArguments, MultipartQuotedBoundaryAndBinaryBody) {
    std::string binary = "\0\r\n--12\xff"s;
    std::string body = "--ab cd\r\nContent-Disposition: form-data; name=\"bin\"; filename=\"b.bin\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n" + binary + "\r\n--ab cd--";
    ArgumentMap args;
    FileMap files;
    tornado::parse_body_arguments("multipart/form-data; boundary=\"ab cd\"", body, args, files);
    EXPECT_EQ(files.at("bin")[0].body, binary);
}

TEST(ParseBodyArguments, MalformedMultipartIsAClearError) {
    struct Case {
        std::string body;
        std::string message;
    };
    std::vector<Case> cases{
        {"no final", "no final boundary"},
        {"--1234\r\nno headers\r\n--1234--", "missing headers"},
        {"--1234\r\nContent-Disposition: form-data\r\n\r\nv\r\n--1234--", "missing name"},
        {"--1234\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--1234--", "Invalid multipart/form-data"},
        {"--1234\r\nBad Header\r\n\r\nv\r\n--1234--", "no colon"},
    };
    for (const Case& c : cases) {
        ArgumentMap args;
        FileMap files;
        try {
            tornado::parse_body_arguments("multipart/form-data; boundary=1234", c.body, args, files);
            ADD_FAILURE() << "accepted: " << c.body;
        } catch (const HTTPInputError& error) {
            std::string message = error.what();
            EXPECT_EQ(message.rfind("Invalid multipart/form-data: ", 0), 0u) << message;
            EXPECT_NE(message.find(c.message), std::string::npos) << message;
        }
    }
    ArgumentMap args;
    FileMap files;
    EXPECT_THROW(tornado::parse_body_arguments("multipart/form-data", kMultipart, args, files), HTTPInputError);
    HTTPHeaders gzip{{"Content-Encoding", "gzip"}};
    EXPECT_THROW(tornado::parse_body_arguments("application/x-www-form-urlencoded", "a=1", args, files, &gzip),
                 HTTPInputError);
}

TEST(ParseHeaderValue, QuotesSemicolonsAndRFC2231) {
    auto [disposition, params] = tornado::parse_header_value("form-data; name=\"a\\\"b\"; filename=\"c;d\"; x=y");
    EXPECT_EQ(disposition, "form-data");
    EXPECT_EQ(params.at("name"), "a\"b");
    EXPECT_EQ(params.at("filename"), "c;d");
    EXPECT_EQ(params.at("x"), "y");
    auto continued = tornado::parse_header_value("attachment; filename*0*=UTF-8''%E2%82; filename*1*=%AC.txt");
    EXPECT_EQ(continued.second.at("filename"), "\xe2\x82\xac.txt");
    auto latin1 = tornado::parse_header_value("attachment; filename*=iso-8859-1''caf%E9");
    EXPECT_EQ(latin1.second.at("filename"), "caf\xc3\xa9");
}

// --- cookies, dates, hosts, ranges ------------------------------------------------------------------

TEST(ParseCookie, AsBrowsersDo) {
    auto cookies = tornado::parse_cookie("a=1; b=\"x y\"; c; =d; e=f=g; a=2;  ; h=\"a\\073b\"; i=\"\\\"q\\\"\"");
    std::vector<std::pair<std::string, std::string>> got(cookies.begin(), cookies.end());
    std::vector<std::pair<std::string, std::string>> want{{"a", "2"}, {"b", "x y"}, {"", "d"},
                                                          {"e", "f=g"}, {"h", "a;b"}, {"i", "\"q\""}};
    EXPECT_EQ(got, want);
}

TEST(FormatTimestamp, HTTPDates) {
    EXPECT_EQ(tornado::format_timestamp(1359312200), "Sun, 27 Jan 2013 18:43:20 GMT");
    EXPECT_EQ(tornado::format_timestamp(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(tornado::format_timestamp(std::chrono::system_clock::from_time_t(1359312200) + std::chrono::milliseconds(900)),
              "Sun, 27 Jan 2013 18:43:20 GMT");
    EXPECT_EQ(tornado::http_date_now().size(), 29u);
    EXPECT_TRUE(tornado::http_date_now().ends_with(" GMT"));
}

// Each thread keeps the last second's text: a second asked again, seconds
// asked in turns, and -1 (a time like any other) as a fresh thread's first.
TEST(FormatTimestamp, TheSameSecondAgainOrSecondsInTurns) {
    std::string first;
    std::thread([&] { first = tornado::format_timestamp(-1); }).join();
    EXPECT_EQ(first, "Wed, 31 Dec 1969 23:59:59 GMT");
    for (int turn = 0; turn < 2; ++turn) {
        EXPECT_EQ(tornado::format_timestamp(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        EXPECT_EQ(tornado::format_timestamp(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        EXPECT_EQ(tornado::format_timestamp(1359312200), "Sun, 27 Jan 2013 18:43:20 GMT");
        EXPECT_EQ(tornado::format_timestamp(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
    }
}

TEST(ParseHttpDate, TheThreeFormats) {
    EXPECT_EQ(tornado::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    EXPECT_EQ(tornado::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    EXPECT_EQ(tornado::parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
    EXPECT_EQ(tornado::parse_http_date(tornado::format_timestamp(1359312200)), 1359312200);
    EXPECT_FALSE(tornado::parse_http_date("yesterday"));
    EXPECT_FALSE(tornado::parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
    EXPECT_FALSE(tornado::parse_http_date("Sun, 06 Nov 1994 28:49:37 GMT"));
}

TEST(SplitHostAndPort, AsTornado) {
    EXPECT_EQ(tornado::split_host_and_port("example.com:8080"), (std::pair<std::string, std::optional<int>>{"example.com", 8080}));
    EXPECT_EQ(tornado::split_host_and_port("[::1]:80").first, "[::1]");
    EXPECT_EQ(tornado::split_host_and_port("example.com").second, std::nullopt);
    EXPECT_EQ(tornado::split_host_and_port("a:b").first, "a:b");
}

TEST(RequestRange, AsTornado) {
    using R = std::optional<std::pair<std::optional<std::int64_t>, std::optional<std::int64_t>>>;
    EXPECT_EQ(tornado::parse_request_range("bytes=1-2"), (R{{1, 3}}));
    EXPECT_EQ(tornado::parse_request_range("bytes=6-"), (R{{6, std::nullopt}}));
    EXPECT_EQ(tornado::parse_request_range("bytes=-6"), (R{{-6, std::nullopt}}));
    EXPECT_EQ(tornado::parse_request_range("bytes=-0"), (R{{std::nullopt, 0}}));
    EXPECT_EQ(tornado::parse_request_range("bytes="), (R{{std::nullopt, std::nullopt}}));
    EXPECT_EQ(tornado::parse_request_range("foo=1-2"), R{});
    EXPECT_EQ(tornado::parse_request_range("bytes=a-b"), R{});
    EXPECT_EQ(tornado::content_range(1, 3, 10), "bytes 1-2/10");
    EXPECT_EQ(tornado::content_range(std::nullopt, std::nullopt, 10), "bytes 0-9/10");
    EXPECT_EQ(tornado::content_range(5, std::nullopt, 10), "bytes 5-9/10");
}

TEST(ReasonPhrase, AsPythonsHttpClientResponses) {
    EXPECT_EQ(tornado::reason_phrase(200), "OK");
    EXPECT_EQ(tornado::reason_phrase(413), "Request Entity Too Large");
    EXPECT_EQ(tornado::reason_phrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(tornado::reason_phrase(599), "Unknown");
}

// --- the request -----------------------------------------------------------------------------------

TEST(HTTPServerRequest, SplitsTheUriAndParsesTheQuery) {
    tornado::HTTPServerRequest request(
        "GET", "/p/a%20th?x=1&y=&x=2", "HTTP/1.1",
        HTTPHeaders{{"Host", "Example.COM:8080"}, {"Cookie", "a=1; path=/; b c=2; d=\"v\""}});
    EXPECT_EQ(request.path, "/p/a%20th");
    EXPECT_EQ(request.query, "x=1&y=&x=2");
    EXPECT_EQ(request.arguments.at("x"), (Values{"1", "2"}));
    EXPECT_EQ(request.query_arguments.at("y"), Values{""});
    EXPECT_EQ(request.host, "Example.COM:8080");
    EXPECT_EQ(request.host_name, "example.com");
    EXPECT_EQ(request.protocol, "http");
    EXPECT_EQ(request.full_url(), "http://Example.COM:8080/p/a%20th?x=1&y=&x=2");
    // SimpleCookie drops reserved and illegal names, as Tornado's request.cookies.
    const tornado::CookieMap& cookies = request.cookies();
    EXPECT_EQ(cookies.size(), 2u);
    EXPECT_EQ(cookies.at("a"), "1");
    EXPECT_EQ(cookies.at("d"), "v");
}

// RFC 9112 section 3.2.2: a target in absolute-form names the host; Host's
// value is ignored. uri becomes the origin-form that follows the authority,
// so path, query and full_url() are those of "GET /p... Host: Example.COM:8080".
// (Tornado 6.2 keeps Host and takes the whole target for the path.)
TEST(HTTPServerRequest, AnAbsoluteFormTargetGivesTheHostAndPath) {
    tornado::HTTPServerRequest request("GET", "http://Example.COM:8080/p/a%20th?x=1", "HTTP/1.1",
                                       HTTPHeaders{{"Host", "other.example"}});
    EXPECT_EQ(request.uri, "/p/a%20th?x=1");
    EXPECT_EQ(request.host, "Example.COM:8080");
    EXPECT_EQ(request.host_name, "example.com");
    EXPECT_EQ(request.path, "/p/a%20th");
    EXPECT_EQ(request.query, "x=1");
    EXPECT_EQ(request.arguments.at("x"), Values{"1"});
    EXPECT_EQ(request.full_url(), "http://Example.COM:8080/p/a%20th?x=1");

    tornado::HTTPServerRequest bare("GET", "HTTPS://[::1]:8443?q=2", "HTTP/1.1", HTTPHeaders{{"Host", "x"}});
    EXPECT_EQ(bare.uri, "/?q=2");
    EXPECT_EQ(bare.host, "[::1]:8443");
    EXPECT_EQ(bare.host_name, "[::1]");
    EXPECT_EQ(bare.path, "/");
    EXPECT_EQ(bare.query, "q=2");
    EXPECT_EQ(bare.full_url(), "http://[::1]:8443/?q=2");

    // The constructor's host still wins; an empty authority leaves Host's; other forms keep Host.
    tornado::HTTPServerRequest given("GET", "http://a.example", "HTTP/1.1", {}, {}, "given");
    EXPECT_EQ(given.host, "given");
    EXPECT_EQ(given.uri, "/");
    EXPECT_EQ(tornado::HTTPServerRequest("GET", "http:///x", "HTTP/1.1", HTTPHeaders{{"Host", "h"}}).host, "h");
    tornado::HTTPServerRequest star("OPTIONS", "*", "HTTP/1.1", HTTPHeaders{{"Host", "h.example"}});
    EXPECT_EQ(star.host, "h.example");
    EXPECT_EQ(star.uri, "*");
    EXPECT_EQ(star.path, "*");
    tornado::HTTPServerRequest connect("CONNECT", "a.example:443", "HTTP/1.1", HTTPHeaders{{"Host", "a.example:443"}});
    EXPECT_EQ(connect.host, "a.example:443");
    EXPECT_EQ(connect.path, "a.example:443");
    tornado::HTTPServerRequest other_scheme("GET", "ftp://a.example/x", "HTTP/1.1", HTTPHeaders{{"Host", "h"}});
    EXPECT_EQ(other_scheme.host, "h");
    EXPECT_EQ(other_scheme.path, "ftp://a.example/x");
}

TEST(HTTPServerRequest, DefaultsAndBodyParsing) {
    tornado::HTTPServerRequest request("POST", "/form?q=1", "HTTP/1.1",
                                       HTTPHeaders{{"Content-Type", "application/x-www-form-urlencoded"}},
                                       "q=2&name=ann");
    EXPECT_EQ(request.host, "127.0.0.1");
    request.parse_body();
    EXPECT_EQ(request.body_arguments.at("q"), Values{"2"});
    EXPECT_EQ(request.arguments.at("q"), (Values{"1", "2"}));
    EXPECT_EQ(request.arguments.at("name"), Values{"ann"});
    EXPECT_GE(request.request_time(), 0.0);
    request.finish_time = request.start_time + std::chrono::milliseconds(1500);
    EXPECT_DOUBLE_EQ(request.request_time(), 1.5);
}

}  // namespace
