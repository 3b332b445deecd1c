// httputil_test.cpp: the parser pieces on plain strings: no sockets, no loop.
// Every refusal is checked for its status and for a message that names
// the problem. Failure messages show inputs and messages through escaped().
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "escaped.h"
#include "httputil.h"

namespace course::testing {
namespace {

using Strings = std::vector<std::string>;

// Runs parse(input), expecting HTTPInputError with `status` and a message
// that contains `problem`; returns the message ("" if nothing was thrown).
template <typename Parse>
std::string expect_input_error(const std::string& input, Parse parse, int status,
                               const std::string& problem) {
    SCOPED_TRACE("the input: " + escaped(input));
    try {
        parse(input);
        ADD_FAILURE() << "expected HTTPInputError " << status << " (" << escaped(problem) << ")";
    } catch (const HTTPInputError& error) {
        std::string message = error.what();
        EXPECT_EQ(error.status(), status) << "the message: " << escaped(message);
        EXPECT_NE(message.find(problem), std::string::npos)
            << "the message " << escaped(message) << " should mention " << escaped(problem);
        return message;
    }
    return "";
}

void expect_bad_headers(const std::string& lines, const std::string& problem) {
    expect_input_error(lines, [](const std::string& text) { HTTPHeaders::parse(text); }, 400,
                       problem);
}

// A message that quotes input, as quoted() does: no control byte of its own
// (a raw CR or LF would split the server's log line and the error body),
// the offending text there with its control bytes written as \xNN
// (`start`, escaped that way), and no more than 60 bytes of a long input.
// 200 bytes leaves room for the words around the 60 and for the escapes.
void expect_quoted(const std::string& message, const std::string& start) {
    if (message.empty()) return;  // nothing was thrown: expect_input_error said so
    auto is_control = [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte < 0x20 || byte == 0x7f;
    };
    EXPECT_TRUE(std::none_of(message.begin(), message.end(), is_control))
        << "a control byte of the input reached the message raw (quote it with quoted()): "
        << escaped(message);
    EXPECT_NE(message.find(start), std::string::npos)
        << "the message should quote the offending text, control bytes as \\xNN (quoted()): "
        << escaped(message) << " should hold " << escaped(start);
    EXPECT_LE(message.size(), 200u)
        << "the message should hold at most 60 bytes of the offending text (quoted()): "
        << escaped(message);
}

// --- task 1: headers --------------------------------------------------------

TEST(Task1_HTTPHeaders, ParsesNameValueLines) {
    HTTPHeaders headers = HTTPHeaders::parse("Host: example.com\r\nAccept: */*\r\n");
    EXPECT_EQ(headers.size(), 2u);
    EXPECT_EQ(headers.get("Host"), "example.com");
    EXPECT_EQ(headers.get("Accept"), "*/*");
}

TEST(Task1_HTTPHeaders, StopsAtTheEmptyLine) {
    HTTPHeaders headers = HTTPHeaders::parse("A: 1\r\n\r\n");
    EXPECT_EQ(headers.size(), 1u);
    EXPECT_EQ(HTTPHeaders::parse("").size(), 0u);
}

TEST(Task1_HTTPHeaders, NamesAreCaseInsensitive) {
    HTTPHeaders headers = HTTPHeaders::parse("content-TYPE: text/plain\r\n");
    EXPECT_TRUE(headers.contains("Content-Type"));
    EXPECT_TRUE(headers.contains("content-type"));
    EXPECT_EQ(headers.get("CONTENT-TYPE"), "text/plain");
    EXPECT_FALSE(headers.contains("Content-Length"));
    // The name keeps the spelling it arrived with.
    EXPECT_EQ(headers.begin()->first, "content-TYPE");
}

TEST(Task1_HTTPHeaders, KeepsEveryValueOfARepeatedName) {
    HTTPHeaders headers = HTTPHeaders::parse(
        "Set-Cookie: a=1\r\nHost: h\r\nset-cookie: b=2\r\nSET-COOKIE: c=3\r\n");
    EXPECT_EQ(headers.get_list("Set-Cookie"), (Strings{"a=1", "b=2", "c=3"}));
    EXPECT_EQ(headers.get("set-cookie"), "a=1,b=2,c=3");
    EXPECT_EQ(headers.get_list("Missing"), Strings{});
    EXPECT_EQ(headers.get("Missing", "fallback"), "fallback");
}

TEST(Task1_HTTPHeaders, TrimsOptionalWhitespaceAroundTheValue) {
    HTTPHeaders headers =
        HTTPHeaders::parse("A:   spaced out \t\r\nB:tight\r\nC:\r\nD: in\tside\r\n");
    EXPECT_EQ(headers.get("A"), "spaced out");
    EXPECT_EQ(headers.get("B"), "tight");
    EXPECT_TRUE(headers.contains("C"));
    EXPECT_EQ(headers.get("C", "none"), "");
    EXPECT_EQ(headers.get("D"), "in\tside");
}

TEST(Task1_HTTPHeaders, KeepsArrivalOrderAndBytesAbove127) {
    HTTPHeaders headers = HTTPHeaders::parse("B: 1\r\nA: caf\xc3\xa9\r\nB: 2\r\n");
    std::vector<std::string> names;
    for (const auto& [name, value] : headers) names.push_back(name);
    EXPECT_EQ(names, (Strings{"B", "A", "B"}));
    EXPECT_EQ(headers.get("A"), "caf\xc3\xa9");
}

TEST(Task1_HTTPHeaders, AddSetRemove) {
    HTTPHeaders headers;
    headers.add("X-Tag", "1");
    headers.add("x-tag", "2");
    EXPECT_EQ(headers.get_list("X-TAG"), (Strings{"1", "2"}));
    headers.set("X-Tag", "3");
    EXPECT_EQ(headers.get_list("x-tag"), Strings{"3"});
    headers.remove("X-TAG");
    EXPECT_FALSE(headers.contains("X-Tag"));
}

TEST(Task1_HTTPHeaders, RefusesWhitespaceBeforeTheColon) {
    expect_bad_headers("Content-Length : 5\r\n", "not a token");
    expect_bad_headers("Content-Length\t: 5\r\n", "not a token");
}

TEST(Task1_HTTPHeaders, RefusesNamesThatAreNotTokens) {
    expect_bad_headers("Bad Header: x\r\n", "not a token");
    expect_bad_headers(": no name\r\n", "not a token");
    expect_bad_headers("X(1): x\r\n", "not a token");
    expect_bad_headers("X-A@b: x\r\n", "not a token");
    expect_bad_headers(std::string("X-Nul\0: x\r\n", 11), "not a token");
    expect_bad_headers("X-\rCR: x\r\n", "not a token");
    // The name is checked before the value: a bad name is named first.
    expect_bad_headers("Bad Name: a\x01\r\n", "not a token");
}

TEST(Task1_HTTPHeaders, RefusesALineWithoutAColon) {
    expect_bad_headers("Host: a\r\nno colon here\r\n", "without a colon");
}

TEST(Task1_HTTPHeaders, RefusesControlCharactersInValues) {
    expect_bad_headers(std::string("X: a\0b\r\n", 9), "control character");
    expect_bad_headers("X: a\rb\r\n", "control character");
    expect_bad_headers("X: a\nb\r\n", "control character");
    expect_bad_headers("X: a\x7f\r\n", "control character");
    // Every byte below 0x20 but the tab, not only NUL, CR and LF.
    expect_bad_headers("X: a\x01\r\n", "control character");
    expect_bad_headers("X: a\x1b[31m\r\n", "control character");
}

TEST(Task1_HTTPHeaders, RefusesObsoleteLineFolding) {
    expect_bad_headers("X-Long: part one\r\n  part two\r\n", "folding");
    expect_bad_headers("X-Long: part one\r\n\tpart two\r\n", "folding");
}

TEST(Task1_HTTPHeaders, ParseHeaderLineAddsOneField) {
    HTTPHeaders headers;
    parse_header_line("Expires: never", headers);
    EXPECT_EQ(headers.get("expires"), "never");
    auto parse_one = [&](const std::string& line) { parse_header_line(line, headers); };
    expect_input_error("Bad Name: x", parse_one, 400, "not a token");
}

TEST(Task1_HTTPHeaders, EqualsIgnoringCase) {
    EXPECT_TRUE(equals_ignoring_case("Keep-Alive", "keep-alive"));
    EXPECT_FALSE(equals_ignoring_case("keep-alive", "keep-aliv"));
    EXPECT_FALSE(equals_ignoring_case("chunked", "chunkee"));
}

// Catches folding case with c | 0x20, which folds punctuation too: '^' and
// '~' are both token characters, and "a\r" would equal "a-".
TEST(Task1_HTTPHeaders, OnlyLettersIgnoreCase) {
    EXPECT_FALSE(equals_ignoring_case("X-^", "x-~"));
    EXPECT_FALSE(equals_ignoring_case("[", "{"));
    EXPECT_FALSE(equals_ignoring_case("@", "`"));
    EXPECT_FALSE(equals_ignoring_case("a\r", "a-"));
    EXPECT_TRUE(equals_ignoring_case("X-Tag_1.~", "x-tag_1.~"));
}

// Catches a message that echoes the offending text raw: each of the four
// refusals names it through quoted(), so that a CR cannot reach the log and
// a 5,000-byte name is not echoed whole.
TEST(Task1_HTTPHeaders, MessagesQuoteTheOffendingTextEscapedAndCut) {
    const std::string long_tail(5000, 'n');
    expect_quoted(expect_input_error(" folded\x01" + long_tail, HTTPHeaders::parse, 400, "folding"),
                  "folded\\x01nnn");
    expect_quoted(expect_input_error("no colon\x01" + long_tail, HTTPHeaders::parse, 400,
                                     "without a colon"),
                  "no colon\\x01nnn");
    expect_quoted(expect_input_error("Bad\rName" + long_tail + ": x", HTTPHeaders::parse, 400,
                                     "not a token"),
                  "Bad\\x0dNamennn");
    // The value's message names the header, whose name may be long too.
    expect_quoted(expect_input_error("X-" + long_tail + ": a\rb", HTTPHeaders::parse, 400,
                                     "control character"),
                  "X-nnn");
}

// Catches cutting the name at the last colon: the value may hold colons.
TEST(Task1_HTTPHeaders, AValueMayHoldColons) {
    HTTPHeaders headers = HTTPHeaders::parse("Host: example.com:8080\r\nX-Time: 12:30:45\r\n");
    EXPECT_EQ(headers.get("Host"), "example.com:8080");
    EXPECT_EQ(headers.get("X-Time"), "12:30:45");
}

// Catches dropping a last line that has no CRLF.
TEST(Task1_HTTPHeaders, TheLastLineMayLackItsCRLF) {
    HTTPHeaders headers = HTTPHeaders::parse("A: 1\r\nB: 2");
    EXPECT_EQ(headers.size(), 2u);
    EXPECT_EQ(headers.get("B"), "2");
}

// Catches skipping the empty line and parsing on: it ends the block.
TEST(Task1_HTTPHeaders, NothingAfterTheEmptyLineIsParsed) {
    HTTPHeaders headers = HTTPHeaders::parse("A: 1\r\n\r\nB: 2\r\nnot a header line\r\n");
    EXPECT_EQ(headers.size(), 1u);
    EXPECT_FALSE(headers.contains("B"));
}

// --- the request line (given, not a task) ----------------------------------------

TEST(RequestLine, SplitsMethodTargetVersion) {
    RequestLine line = parse_request_line("GET /search?q=a+b HTTP/1.1");
    EXPECT_EQ(line.method, "GET");
    EXPECT_EQ(line.target, "/search?q=a+b");
    EXPECT_EQ(line.version, "HTTP/1.1");
    EXPECT_EQ(parse_request_line("OPTIONS * HTTP/1.0").target, "*");
}

TEST(RequestLine, RefusesMalformedLines) {
    for (std::string line : {"GET /", "GET  / HTTP/1.1", "GET / HTTP/1.1 ", "GET\t/ HTTP/1.1",
                             " GET / HTTP/1.1", "", "GET / HTTP/1.1 extra"}) {
        expect_input_error(line, parse_request_line, 400, "request line");
    }
}

TEST(RequestLine, RefusesABadMethodTargetOrVersion) {
    expect_input_error("G(ET / HTTP/1.1", parse_request_line, 400, "method");
    expect_input_error(std::string("GET /a\0b HTTP/1.1", 17), parse_request_line, 400, "target");
    expect_input_error("GET / HTTP/1.1x", parse_request_line, 400, "version");
    expect_input_error("GET / http/1.1", parse_request_line, 400, "version");
    expect_input_error("GET / HTTP/2.0", parse_request_line, 505, "not supported");
}

TEST(RequestLine, ParseRequestHeadSplitsLineAndHeaders) {
    RequestHead head =
        parse_request_head("POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n");
    EXPECT_EQ(head.line.method, "POST");
    EXPECT_EQ(head.headers.get("content-length"), "3");
    expect_input_error("GET / HTTP/1.1\nHost: h\r\n\r\n", parse_request_head, 400, "");
}

// --- task 2: query strings ---------------------------------------------------------

TEST(Task2_UrlUnescape, DecodesPercentEscapes) {
    EXPECT_EQ(url_unescape("a%20b"), "a b");
    EXPECT_EQ(url_unescape("%41%42%43"), "ABC");
    EXPECT_EQ(url_unescape("caf%C3%A9"), "caf\xc3\xa9");
    EXPECT_EQ(url_unescape("%2f%2F"), "//");
    EXPECT_EQ(url_unescape("100%25"), "100%");
    EXPECT_EQ(url_unescape("%00"), std::string(1, '\0'));
}

TEST(Task2_UrlUnescape, PlusIsASpaceOnlyWhenAsked) {
    EXPECT_EQ(url_unescape("a+b"), "a b");
    EXPECT_EQ(url_unescape("a+b", false), "a+b");
    EXPECT_EQ(url_unescape("a%2Bb"), "a+b");
}

TEST(Task2_UrlUnescape, LeavesInvalidEscapesAlone) {
    EXPECT_EQ(url_unescape("%zz"), "%zz");
    EXPECT_EQ(url_unescape("%4"), "%4");
    EXPECT_EQ(url_unescape("%"), "%");
    EXPECT_EQ(url_unescape("a%g1b"), "a%g1b");
    EXPECT_EQ(url_unescape("%%41"), "%A");
}

// Catches checking only the first of the two digits after '%'.
TEST(Task2_UrlUnescape, BothDigitsMustBeHex) {
    EXPECT_EQ(url_unescape("%4z"), "%4z");
    EXPECT_EQ(url_unescape("a%2gb"), "a%2gb");
}

// Catches reading past the end of the text for a '%' near its end: the
// text is a view, and what lies beyond it is not part of it.
TEST(Task2_UrlUnescape, AnEscapeCutShortByTheEndOfTheTextStays) {
    std::string_view text = "%41%4142";
    EXPECT_EQ(url_unescape(text.substr(0, 2)), "%4");
    EXPECT_EQ(url_unescape(text.substr(3, 2)), "%4");
    EXPECT_EQ(url_unescape(text.substr(0, 1)), "%");
}

TEST(Task2_ParseQuery, NamesToValuesInOrder) {
    QueryArguments arguments = parse_query("a=1&b=2&a=3");
    EXPECT_EQ(arguments.size(), 2u);
    EXPECT_EQ(arguments["a"], (Strings{"1", "3"}));
    EXPECT_EQ(arguments["b"], Strings{"2"});
}

TEST(Task2_ParseQuery, DecodesNamesAndValues) {
    QueryArguments arguments = parse_query("q=tornado+web&na%6De=%E2%9C%93&x=a%26b%3Dc");
    EXPECT_EQ(arguments["q"], Strings{"tornado web"});
    EXPECT_EQ(arguments["name"], Strings{"\xe2\x9c\x93"});
    EXPECT_EQ(arguments["x"], Strings{"a&b=c"});
}

TEST(Task2_ParseQuery, KeepsBlankValues) {
    QueryArguments arguments = parse_query("empty=&flag&x=1=2");
    EXPECT_EQ(arguments["empty"], Strings{""});
    EXPECT_EQ(arguments["flag"], Strings{""});
    EXPECT_EQ(arguments["x"], Strings{"1=2"});  // only the first '=' separates
}

TEST(Task2_ParseQuery, SkipsEmptyFields) {
    EXPECT_TRUE(parse_query("").empty());
    EXPECT_TRUE(parse_query("&&").empty());
    QueryArguments arguments = parse_query("&a=1&&b=2&");
    EXPECT_EQ(arguments.size(), 2u);
    EXPECT_EQ(arguments["a"], Strings{"1"});
}

// --- task 3: body framing ---------------------------------------------------------

RequestLine http11{"POST", "/", "HTTP/1.1"};
RequestLine http10{"POST", "/", "HTTP/1.0"};

BodyFraming framing_of(const std::string& header_lines, const RequestLine& line = http11) {
    return body_framing(line, HTTPHeaders::parse(header_lines));
}

std::string expect_bad_framing(const std::string& header_lines, const std::string& problem,
                               const RequestLine& line = http11) {
    SCOPED_TRACE("in an " + line.version + " request");
    auto parse = [&](const std::string& lines) { framing_of(lines, line); };
    return expect_input_error(header_lines, parse, 400, problem);
}

TEST(Task3_BodyFraming, NoLengthNoBody) {
    EXPECT_EQ(framing_of("Host: a\r\n").kind, BodyFraming::Kind::None);
}

TEST(Task3_BodyFraming, ContentLength) {
    BodyFraming framing = framing_of("Content-Length: 42\r\n");
    EXPECT_EQ(framing.kind, BodyFraming::Kind::Length);
    EXPECT_EQ(framing.length, 42u);
    EXPECT_EQ(framing_of("Content-Length: 0\r\n").length, 0u);
    EXPECT_EQ(framing_of("content-length:007\r\n").length, 7u);
}

// Catches taking "Content-Length: 0" for no header at all (Kind::None).
TEST(Task3_BodyFraming, ZeroContentLengthIsStillALength) {
    BodyFraming framing = framing_of("Content-Length: 0\r\n");
    EXPECT_EQ(framing.kind, BodyFraming::Kind::Length);
    EXPECT_EQ(framing.length, 0u);
}

TEST(Task3_BodyFraming, HugeContentLengthIsNotAnError) {
    // Too large for any limit, but a number: the caller answers 413.
    BodyFraming framing = framing_of("Content-Length: 99999999999999999999999\r\n");
    EXPECT_EQ(framing.kind, BodyFraming::Kind::Length);
    EXPECT_GT(framing.length, 1000000000000u);
}

TEST(Task3_BodyFraming, ContentLengthIsDigitsOnly) {
    for (std::string value : {"+5", "-1", "0x5", "5a", "5.0", "", "1 2", "五"}) {
        expect_bad_framing("Content-Length: " + value + "\r\n", "not a number");
    }
}

TEST(Task3_BodyFraming, IdenticalRepeatedLengthsAreAccepted) {
    EXPECT_EQ(framing_of("Content-Length: 5\r\nContent-Length: 5\r\n").length, 5u);
    EXPECT_EQ(framing_of("Content-Length: 5, 5\r\n").length, 5u);
}

TEST(Task3_BodyFraming, DifferentLengthsAreRefused) {
    expect_bad_framing("Content-Length: 5\r\nContent-Length: 6\r\n", "conflicting");
    expect_bad_framing("Content-Length: 5, 6\r\n", "conflicting");
    expect_bad_framing("Content-Length: 5,\r\n", "not a number");
}

TEST(Task3_BodyFraming, Chunked) {
    EXPECT_EQ(framing_of("Transfer-Encoding: chunked\r\n").kind, BodyFraming::Kind::Chunked);
    EXPECT_EQ(framing_of("transfer-encoding: CHUNKED\r\n").kind, BodyFraming::Kind::Chunked);
}

TEST(Task3_BodyFraming, BothLengthAndChunkedAreRefused) {
    expect_bad_framing("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                       "both Content-Length and Transfer-Encoding");
    expect_bad_framing("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
                       "both Content-Length and Transfer-Encoding");
}

TEST(Task3_BodyFraming, UnknownTransferEncodingsAreRefused) {
    for (std::string value : {"gzip", "gzip, chunked", "chunked, gzip", "identity",
                              "chunked, chunked", "chunked;q=1", "xchunked", ""}) {
        expect_bad_framing("Transfer-Encoding: " + value + "\r\n", "Transfer-Encoding");
    }
    expect_bad_framing("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                       "Transfer-Encoding");
}

TEST(Task3_BodyFraming, ChunkedIsRefusedInHTTP10) {
    expect_bad_framing("Transfer-Encoding: chunked\r\n", "HTTP/1.0", http10);
}

// Catches reading Content-Length before the both-headers check: a length
// that does not parse, or two that differ, must not hide the smuggling
// case behind another 400. Nor may the version or the coding: the
// both-headers row comes first in body_framing's table.
TEST(Task3_BodyFraming, BothHeadersAreRefusedBeforeAnythingElseIsRead) {
    SCOPED_TRACE("rule: Content-Length with Transfer-Encoding is refused first, as such");
    const std::string both = "both Content-Length and Transfer-Encoding";
    expect_bad_framing("Content-Length: abc\r\nTransfer-Encoding: chunked\r\n", both);
    expect_bad_framing("Transfer-Encoding: chunked\r\nContent-Length: 5, 6\r\n", both);
    expect_bad_framing("Content-Length: 5\r\nTransfer-Encoding: gzip\r\n", both);
    expect_bad_framing("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", both, http10);
}

// Catches looking at the coding before the version: HTTP/1.0 has no
// transfer codings at all, so any Transfer-Encoding there is refused as such.
TEST(Task3_BodyFraming, HTTP10IsRefusedBeforeTheCodingIsRead) {
    SCOPED_TRACE("rule: Transfer-Encoding in HTTP/1.0 is refused before its coding is read");
    expect_bad_framing("Transfer-Encoding: gzip\r\n", "HTTP/1.0", http10);
}

// Catches a message that echoes a long value whole: the refusals quote it
// through quoted(), 60 bytes at most.
TEST(Task3_BodyFraming, MessagesQuoteTheValueCut) {
    std::string codings = "gzip";
    std::string lengths = "5";
    for (int i = 0; i < 1000; ++i) {
        codings += ", gzip";
        lengths += ", 6";
    }
    expect_quoted(expect_bad_framing("Transfer-Encoding: " + codings + "\r\n", "Transfer-Encoding"),
                  "gzip, gzip");
    expect_quoted(expect_bad_framing("Content-Length: " + lengths + "\r\n", "conflicting"), "5, 6");
}

// --- task 5: chunk sizes ------------------------------------------------------------

TEST(Task5_ChunkSize, HexDigits) {
    EXPECT_EQ(parse_chunk_size("0\r\n"), 0u);
    EXPECT_EQ(parse_chunk_size("5\r\n"), 5u);
    EXPECT_EQ(parse_chunk_size("1a\r\n"), 26u);
    EXPECT_EQ(parse_chunk_size("FF\r\n"), 255u);
    EXPECT_EQ(parse_chunk_size("000010\r\n"), 16u);
    EXPECT_EQ(parse_chunk_size("ff"), 255u);  // the CRLF is optional here
}

TEST(Task5_ChunkSize, ExtensionsAreIgnored) {
    EXPECT_EQ(parse_chunk_size("5;name=value\r\n"), 5u);
    EXPECT_EQ(parse_chunk_size("5;a;b=\"q\"\r\n"), 5u);
    EXPECT_EQ(parse_chunk_size("a ;x\r\n"), 10u);
    EXPECT_EQ(parse_chunk_size("a\t ;x\r\n"), 10u);  // spaces and tabs before the ';'
}

TEST(Task5_ChunkSize, AnythingElseIsRefused) {
    for (std::string line : {"\r\n", "zz\r\n", "0x5\r\n", "-5\r\n", "+5\r\n", " 5\r\n",
                             "5 \r\n", "5 x\r\n", "5\r\r\n", "5;a\nb\r\n", "g\r\n"}) {
        expect_input_error(line, parse_chunk_size, 400, "chunk size");
    }
}

TEST(Task5_ChunkSize, SizesThatOverflowAreRefused) {
    EXPECT_EQ(parse_chunk_size("ffffffffffffffff\r\n"), 0xffffffffffffffffu);
    expect_input_error("10000000000000000\r\n", parse_chunk_size, 400, "chunk size");
}

// Catches detecting overflow by "the size went down", which misses wraps
// that land above the old value.
TEST(Task5_ChunkSize, EveryOverflowIsRefused) {
    for (std::string line : {"1ffffffffffffffff\r\n", "fffffffffffffffff\r\n",
                             "ffffffffffffffff0\r\n", "100000000000000000000\r\n"}) {
        expect_input_error(line, parse_chunk_size, 400, "chunk size");
    }
}

// Catches a message that echoes the size line raw: a bare LF hidden in an
// extension must not reach the log, nor a 5,000-byte extension whole.
TEST(Task5_ChunkSize, MessagesQuoteTheLineEscapedAndCut) {
    expect_quoted(expect_input_error("5;a\nb" + std::string(5000, 'x') + "\r\n", parse_chunk_size,
                                     400, "chunk size"),
                  "5;a\\x0abxxx");
    expect_quoted(expect_input_error("1" + std::string(5000, '0') + "\r\n", parse_chunk_size, 400,
                                     "chunk size"),
                  "1000");
}

// Catches refusing more than 16 hex digits when the extra ones are leading zeros.
TEST(Task5_ChunkSize, LeadingZerosDoNotOverflow) {
    EXPECT_EQ(parse_chunk_size("00000000000000000001\r\n"), 1u);
    EXPECT_EQ(parse_chunk_size("0000ffffffffffffffff\r\n"), 0xffffffffffffffffu);
}

// --- task 4: keep-alive ------------------------------------------------------------------

bool keep_alive(const std::string& version, const std::string& header_lines) {
    return should_keep_alive({"GET", "/", version}, HTTPHeaders::parse(header_lines));
}

TEST(Task4_KeepAlive, HTTP11KeepsAliveUnlessClose) {
    EXPECT_TRUE(keep_alive("HTTP/1.1", ""));
    EXPECT_TRUE(keep_alive("HTTP/1.1", "Connection: keep-alive\r\n"));
    EXPECT_FALSE(keep_alive("HTTP/1.1", "Connection: close\r\n"));
    EXPECT_FALSE(keep_alive("HTTP/1.1", "Connection: CLOSE\r\n"));
}

TEST(Task4_KeepAlive, HTTP10ClosesUnlessAsked) {
    EXPECT_FALSE(keep_alive("HTTP/1.0", ""));
    EXPECT_TRUE(keep_alive("HTTP/1.0", "Connection: keep-alive\r\n"));
    EXPECT_TRUE(keep_alive("HTTP/1.0", "Connection: Keep-Alive\r\n"));
    EXPECT_FALSE(keep_alive("HTTP/1.0", "Connection: close\r\n"));
}

TEST(Task4_KeepAlive, ConnectionIsAList) {
    EXPECT_FALSE(keep_alive("HTTP/1.1", "Connection: Upgrade, close\r\n"));
    EXPECT_FALSE(keep_alive("HTTP/1.1", "Connection: upgrade\r\nConnection: close\r\n"));
    EXPECT_TRUE(keep_alive("HTTP/1.0", "Connection: TE,keep-alive\r\n"));
    EXPECT_TRUE(keep_alive("HTTP/1.1", "Connection: closed\r\n"));  // not "close"
}

// Catches letting "keep-alive" win when "close" is listed too.
TEST(Task4_KeepAlive, CloseWinsOverKeepAlive) {
    EXPECT_FALSE(keep_alive("HTTP/1.0", "Connection: keep-alive, close\r\n"));
    EXPECT_FALSE(keep_alive("HTTP/1.0", "Connection: keep-alive\r\nConnection: close\r\n"));
    EXPECT_FALSE(keep_alive("HTTP/1.1", "Connection: keep-alive, close\r\n"));
}

// --- response helpers (given) ----------------------------------------------------------------

TEST(ResponseHelpers, FormatChunk) {
    EXPECT_EQ(format_chunk("hello"), "5\r\nhello\r\n");
    EXPECT_EQ(format_chunk(std::string(26, 'x')), "1a\r\n" + std::string(26, 'x') + "\r\n");
    EXPECT_EQ(format_chunk(""), "");  // never the last-chunk marker by accident
}

TEST(ResponseHelpers, ReasonPhrases) {
    EXPECT_EQ(reason_phrase(200), "OK");
    EXPECT_EQ(reason_phrase(404), "Not Found");
    EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(reason_phrase(299), "Unknown");
}

TEST(ResponseHelpers, HttpDate) {
    EXPECT_EQ(format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

}  // namespace
}  // namespace course::testing
