// client_httputil_test.cpp: the client's parsing (client_httputil.h), on
// strings. Task 4 of the exercise is the response side: the status line
// and how the body is framed. URLs and the request we send are checked
// here too (Task4_ClientRequest), though they are not cut out: they are
// in the learner's file, and make grade runs every test of that file.
#include <gtest/gtest.h>

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "client_httputil.h"

namespace course {

// How GoogleTest prints a framing kind in a failure message: by name, not
// as the raw byte of the enum.
void PrintTo(ResponseFraming::Kind kind, std::ostream* out) {
    switch (kind) {
    case ResponseFraming::Kind::None: *out << "Kind::None"; return;
    case ResponseFraming::Kind::Length: *out << "Kind::Length"; return;
    case ResponseFraming::Kind::Chunked: *out << "Kind::Chunked"; return;
    case ResponseFraming::Kind::UntilClose: *out << "Kind::UntilClose"; return;
    }
    *out << "Kind(" << static_cast<int>(kind) << ")";
}

}  // namespace course

namespace course::testing {
namespace {

// What the client reports for a response it refuses: an HTTPInputError
// whose status() is 502 (Bad Gateway: the server behind sent nonsense),
// never chapter 05's 400 (the request was bad), which its parsers throw.
// Checks that `parse` refuses with a 502; `what` names the input.
template <typename Parse>
void expect_refused_with_502(Parse parse, const std::string& what) {
    try {
        parse();
        ADD_FAILURE() << "should refuse: " << what;
    } catch (const HTTPInputError& error) {
        EXPECT_EQ(error.status(), 502)
            << "a response the client refuses is an HTTPInputError with status 502 (bad "
               "gateway), not " << error.status() << " (chapter 05's parsers throw 400, which "
               "blames the request: rethrow what they refuse with bad_response): " << what
            << " (" << error.what() << ")";
    }
}

// --- task 4: the status line -----------------------------------------------------

TEST(Task4_ResponseLine, SplitsVersionCodeAndReason) {
    ResponseLine line = parse_response_line("HTTP/1.1 200 OK");
    EXPECT_EQ(line.version, "HTTP/1.1");
    EXPECT_EQ(line.code, 200);
    EXPECT_EQ(line.reason, "OK");

    line = parse_response_line("HTTP/1.0 404 Not Found");
    EXPECT_EQ(line.version, "HTTP/1.0");
    EXPECT_EQ(line.code, 404);
    EXPECT_EQ(line.reason, "Not Found");
}

TEST(Task4_ResponseLine, TheReasonMayBeEmptyOrMissing) {
    EXPECT_EQ(parse_response_line("HTTP/1.1 204 ").reason, "");
    ResponseLine bare = parse_response_line("HTTP/1.1 304");
    EXPECT_EQ(bare.code, 304);
    EXPECT_EQ(bare.reason, "");
    EXPECT_EQ(parse_response_line("HTTP/1.1 500 Internal  Server\tError").reason,
              "Internal  Server\tError");
}

TEST(Task4_ResponseLine, MalformedLinesAreRefused) {
    for (const char* bad : {"", "HTTP/1.1", "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 abc OK",
                            "HTTP/1.1  200 OK", "HTTP/1.1 200OK", "HTTP/2 200 OK", "HTTP/1.x 200 OK",
                            "ICY 200 OK", "http/1.1 200 OK", "HTTP/1.1 099 Low", "HTTP/1.1 600 High",
                            "HTTP/1.1 200 O\rK", "HTTP/1.1 200 OK\n"}) {
        EXPECT_THROW(parse_response_line(bad), HTTPInputError) << "should refuse: \"" << bad << "\"";
    }
    expect_refused_with_502([] { parse_response_line("HTTP/1.1 20 OK"); }, "HTTP/1.1 20 OK");
}

// The mistake this catches: a version check that takes any HTTP/x.y. This
// client speaks HTTP/1.x: the version is "HTTP/1." and one digit.
TEST(Task4_ResponseLine, OnlyHTTP1IsAccepted) {
    for (const char* other : {"HTTP/2.0 200 OK", "HTTP/0.9 200 OK", "HTTP/3.1 200 OK",
                              "HTTP/1x1 200 OK", "HTTP/1,1 200 OK"}) {
        EXPECT_THROW(parse_response_line(other), HTTPInputError)
            << "the version must be \"HTTP/1.\" and a digit: should refuse \"" << other << "\"";
    }
    EXPECT_EQ(parse_response_line("HTTP/1.9 200 OK").version, "HTTP/1.9");
}

// The mistake this catches: a range check off by one at either end.
TEST(Task4_ResponseLine, EveryCodeFrom100To599IsAccepted) {
    for (int code : {100, 101, 199, 200, 404, 500, 599}) {
        std::string line = "HTTP/1.1 " + std::to_string(code) + " Reason";
        std::string got;
        try {
            got = std::to_string(parse_response_line(line).code);
        } catch (const std::exception& error) {
            got = std::string("refused: ") + error.what();
        }
        EXPECT_EQ(got, std::to_string(code)) << "a status code from 100 to 599 is valid: " << line;
    }
}

// The mistake this catches: reading the line by position before checking
// its length. A line is a view into the bytes that came, which go on past
// its end: the code must be read from the line, never from what follows.
TEST(Task4_ResponseLine, NothingPastTheEndOfTheLineIsRead) {
    std::string_view buffer = "HTTP/1.1 200 OK\r\n";
    for (std::size_t length : {8, 9, 10, 11}) {
        std::string_view cut = buffer.substr(0, length);
        EXPECT_THROW(parse_response_line(cut), HTTPInputError)
            << "\"" << cut << "\" is too short for a status line: check the length before "
               "reading by position (the bytes after the view are not the line's)";
    }
}

// The mistake this catches: a reason check that refuses CR and LF only;
// any control character but tab is refused.
TEST(Task4_ResponseLine, EveryControlCharacterButTabIsRefusedInTheReason) {
    for (const std::string& bad : {std::string("HTTP/1.1 200 O\x01K"), std::string("HTTP/1.1 200 OK\x7f"),
                                   std::string("HTTP/1.1 200 O\0K", 16), std::string("HTTP/1.1 200 O\x1bK")}) {
        EXPECT_THROW(parse_response_line(bad), HTTPInputError) << "should refuse: " << bad;
    }
}

TEST(Task4_ResponseLine, TheErrorNamesTheLine) {
    try {
        parse_response_line("SPDY/3 200 OK");
        FAIL() << "should throw";
    } catch (const HTTPInputError& error) {
        EXPECT_NE(std::string(error.what()).find("SPDY/3 200 OK"), std::string::npos)
            << error.what();
    }
}

TEST(Task4_ResponseHead, ParsesTheLineAndTheHeaders) {
    ResponseHead head = parse_response_head(
        "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Two: a\r\nx-two: b\r\n\r\n");
    EXPECT_EQ(head.line.code, 201);
    EXPECT_EQ(head.line.reason, "Created");
    EXPECT_EQ(head.headers.get("content-type"), "text/plain");
    EXPECT_EQ(head.headers.get("X-TWO"), "a,b");
    EXPECT_THROW(parse_response_head("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"), HTTPInputError);
    expect_refused_with_502([] { parse_response_head("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"); },
                            "a header line without a colon");
}

// --- task 4: how long is the body? ----------------------------------------------

ResponseFraming framing_of(const std::string& head, const std::string& method = "GET") {
    return response_framing(method, parse_response_head(head));
}

// The framing's kind by name, or "refused: " and why: a failure message
// then says which it was. (An EXPECT_EQ inside an EXPECT_NO_THROW would
// print the expanded macro as the statement that threw.)
std::string kind_or_refusal(const std::string& head, const std::string& method = "GET") {
    try {
        return ::testing::PrintToString(framing_of(head, method).kind);
    } catch (const std::exception& error) {
        return std::string("refused: ") + error.what();
    }
}

TEST(Task4_ResponseFraming, ContentLengthGivesTheLength) {
    ResponseFraming framing = framing_of("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
    EXPECT_EQ(framing.kind, ResponseFraming::Kind::Length);
    EXPECT_EQ(framing.length, 12u);
    EXPECT_EQ(framing_of("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").kind,
              ResponseFraming::Kind::Length);
}

TEST(Task4_ResponseFraming, ChunkedIsChunked) {
    EXPECT_EQ(framing_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").kind,
              ResponseFraming::Kind::Chunked);
    EXPECT_EQ(framing_of("HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n").kind,
              ResponseFraming::Kind::Chunked);
}

TEST(Task4_ResponseFraming, NeitherHeaderMeansUntilTheServerCloses) {
    // Unlike a request, where it means "no body".
    EXPECT_EQ(framing_of("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n").kind,
              ResponseFraming::Kind::UntilClose);
    EXPECT_EQ(framing_of("HTTP/1.0 200 OK\r\n\r\n").kind, ResponseFraming::Kind::UntilClose);
    EXPECT_EQ(framing_of("HTTP/1.1 404 Not Found\r\n\r\n").kind, ResponseFraming::Kind::UntilClose);
}

TEST(Task4_ResponseFraming, SomeResponsesNeverHaveABody) {
    // Whatever their headers say (RFC 9112 section 6.3, rules 1 and 2).
    const std::string with_length = "\r\nContent-Length: 100\r\n\r\n";
    EXPECT_EQ(framing_of("HTTP/1.1 200 OK" + with_length, "HEAD").kind, ResponseFraming::Kind::None);
    EXPECT_EQ(framing_of("HTTP/1.1 204 No Content" + with_length).kind, ResponseFraming::Kind::None);
    EXPECT_EQ(framing_of("HTTP/1.1 304 Not Modified" + with_length).kind,
              ResponseFraming::Kind::None);
    EXPECT_EQ(framing_of("HTTP/1.1 101 Switching Protocols\r\n\r\n").kind,
              ResponseFraming::Kind::None);
    EXPECT_EQ(framing_of("HTTP/1.1 204 No Content\r\n\r\n").kind, ResponseFraming::Kind::None);
}

// The mistake this catches: asking body_framing() first. A HEAD or 304
// response carries the headers of the page it stands for, and chapter 05's
// body_framing refuses some of those (a Transfer-Encoding other than
// chunked alone: it has no gzip decoder). Asked first, it refuses a legal
// answer that has no body to frame.
TEST(Task4_ResponseFraming, AResponseWithoutABodyIsNotRefusedForItsFramingHeaders) {
    const std::string gzip_chunked = "\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    EXPECT_EQ(kind_or_refusal("HTTP/1.1 200 OK" + gzip_chunked, "HEAD"), "Kind::None")
        << "a HEAD response has no body, whatever its headers say: decide that before "
           "body_framing() reads them";
    EXPECT_EQ(kind_or_refusal("HTTP/1.1 304 Not Modified" + gzip_chunked), "Kind::None")
        << "a 304 response has no body, whatever its headers say: decide that before "
           "body_framing() reads them";
}

// The mistake this catches: taking every 3xx as bodiless. Only 304 is; a
// redirect's body is framed by its headers.
TEST(Task4_ResponseFraming, ARedirectHasTheBodyItsHeadersSay) {
    ResponseFraming framing =
        framing_of("HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 5\r\n\r\n");
    EXPECT_EQ(framing.kind, ResponseFraming::Kind::Length);
    EXPECT_EQ(framing.length, 5u);
    EXPECT_EQ(framing_of("HTTP/1.1 302 Found\r\nLocation: /new\r\n\r\n").kind,
              ResponseFraming::Kind::UntilClose);
}

TEST(Task4_ResponseFraming, AmbiguousFramingIsRefused) {
    for (const char* head : {
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
             "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
         }) {
        EXPECT_THROW(framing_of(head), HTTPInputError) << "should refuse: " << head;
    }
}

// The mistake this catches: letting body_framing()'s HTTPInputError through
// as it is. Chapter 05 wrote it for requests (status 400, "your request is
// bad"); a response the client refuses is the server's fault: 502.
TEST(Task4_ResponseFraming, AmbiguousFramingIsA502) {
    for (const char* head : {
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
             "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
         }) {
        expect_refused_with_502([head] { framing_of(head); }, head);
    }
}

// --- URLs and the request (given code) ---------------------------------------------

TEST(Task4_ClientRequest, ParsesURLs) {
    URL url = parse_url("http://127.0.0.1:8888/search?q=1");
    EXPECT_EQ(url.host, "127.0.0.1");
    EXPECT_EQ(url.port, 8888);
    EXPECT_EQ(url.target, "/search?q=1");

    url = parse_url("http://localhost");
    EXPECT_EQ(url.host, "localhost");
    EXPECT_EQ(url.port, 80);
    EXPECT_EQ(url.target, "/");

    EXPECT_EQ(parse_url("http://h:1?x=y").target, "/?x=y");
    EXPECT_EQ(parse_url("HTTP://h/a#fragment").target, "/a");
}

TEST(Task4_ClientRequest, RefusesURLsItCannotFetch) {
    for (const char* bad : {"https://127.0.0.1/", "ftp://x/", "127.0.0.1:80/", "http://", "http://:80/",
                            "http://h:0/", "http://h:65536/", "http://h:8a/", "http://u@h/",
                            "http://[::1]:80/", "http://h/a b", "http://h/a\r\nX: y"}) {
        EXPECT_THROW(parse_url(bad), std::invalid_argument) << "should refuse: " << bad;
    }
}

TEST(Task4_ClientRequest, FormatsTheRequest) {
    HTTPHeaders headers;
    headers.add("X-Test", "yes");
    std::string request = format_request("POST", parse_url("http://127.0.0.1:8080/echo?a=1"),
                                         headers, "body!");
    EXPECT_EQ(request,
              "POST /echo?a=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n"
              "Content-Length: 5\r\nX-Test: yes\r\n\r\nbody!");
    EXPECT_EQ(format_request("GET", parse_url("http://localhost/"), {}, ""),
              "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

TEST(Task4_ClientRequest, TheCallersHeadersReplaceOurs) {
    HTTPHeaders headers;
    headers.add("host", "example.test");
    headers.add("Cookie", "a=1");
    headers.add("Cookie", "b=2");
    std::string request = format_request("GET", parse_url("http://127.0.0.1:81/"), headers, "");
    EXPECT_EQ(request,
              "GET / HTTP/1.1\r\nConnection: close\r\nhost: example.test\r\nCookie: a=1\r\n"
              "Cookie: b=2\r\n\r\n");
}

TEST(Task4_ClientRequest, RefusesHeaderInjection) {
    HTTPHeaders headers;
    headers.add("X-Evil", "a\r\nX-Injected: 1");
    EXPECT_THROW(format_request("GET", parse_url("http://127.0.0.1/"), headers, ""),
                 std::invalid_argument);
}

}  // namespace
}  // namespace course::testing
