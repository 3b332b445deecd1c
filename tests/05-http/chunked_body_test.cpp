// chunked_body_test.cpp: request bodies in Transfer-Encoding: chunked,
// through a socket: split at every byte, extensions, trailers, limits and
// every way a chunk can be malformed.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <system_error>
#include <thread>

#include "http_fixture.h"

namespace course::testing {
namespace {

class Task5_ChunkedBody : public HTTPServerTest {};

std::string chunked_post(const std::string& chunks) {
    return "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks;
}

const std::string kChunks =
    "5\r\nhello\r\n1;note=x\r\n,\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";

TEST_F(Task5_ChunkedBody, ChunksAreJoinedIntoTheBody) {
    start();
    Response response = fetch(chunked_post("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hello world");
}

TEST_F(Task5_ChunkedBody, AnEmptyBody) {
    start();
    Response response = fetch(chunked_post("0\r\n\r\n"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "");
}

TEST_F(Task5_ChunkedBody, ExtensionsAreIgnoredAndTrailersAccepted) {
    start();
    TestClient client(port());
    client.send(chunked_post("5;name=value\r\nhello\r\n0;last\r\n"
                             "Expires: never\r\nX-Sum: 5\r\n\r\n"));
    EXPECT_EQ(read_response(client).body, "hello");
    // The trailers were consumed: the next request parses cleanly.
    client.send(get_request("/"));
    EXPECT_EQ(read_response(client).body, "Hello, world");
}

TEST_F(Task5_ChunkedBody, HexSizesOfEveryCase) {
    start();
    std::string data(0x1a + 0xB, 'z');
    Response response = fetch(chunked_post("1a\r\n" + data.substr(0, 0x1a) + "\r\nB\r\n" +
                                           data.substr(0x1a) + "\r\n0\r\n\r\n"));
    EXPECT_EQ(response.body, data);
}

TEST_F(Task5_ChunkedBody, ALargeChunkArrivesInManyReads) {
    start();
    std::string data(300000, 'q');
    char size[16];
    std::snprintf(size, sizeof size, "%zx", data.size());
    Response response = fetch(chunked_post(std::string(size) + "\r\n" + data + "\r\n0\r\n\r\n"));
    EXPECT_EQ(response.body.size(), data.size());
    EXPECT_EQ(response.body, data);
}

// The whole request in two pieces, split at each byte in turn, on one
// kept-alive connection. A pause between the pieces lets the server read
// the first alone, so every state of the chunk parser sees a cut.
TEST_F(Task5_ChunkedBody, SplitAtEveryByte) {
    start();
    const std::string request = chunked_post(kChunks);
    TestClient client(port());
    no_delay(client);
    for (std::size_t cut = 1; cut < request.size(); ++cut) {
        SCOPED_TRACE("cut at byte " + std::to_string(cut) + ": " + escaped(request.substr(0, cut)) +
                     " then " + escaped(request.substr(cut)));
        client.send(request.substr(0, cut));
        std::this_thread::sleep_for(1ms);
        client.send(request.substr(cut));
        Response response = read_response(client);
        ASSERT_EQ(response.status, 200);
        ASSERT_EQ(response.body, "hello, world");
    }
}

TEST_F(Task5_ChunkedBody, OneByteAtATime) {
    start();
    const std::string request = chunked_post(kChunks);
    TestClient client(port());
    no_delay(client);
    for (char byte : request) {
        client.send(std::string(1, byte));
        std::this_thread::sleep_for(200us);
    }
    EXPECT_EQ(read_response(client).body, "hello, world");
}

TEST_F(Task5_ChunkedBody, PipelinedAfterAChunkedRequest) {
    start();
    TestClient client(port());
    client.send(chunked_post("3\r\nabc\r\n0\r\n\r\n") + post_request("/", "next") +
                get_request("/"));
    EXPECT_EQ(read_response(client).body, "abc");
    EXPECT_EQ(read_response(client).body, "next");
    EXPECT_EQ(read_response(client).body, "Hello, world");
}

TEST_F(Task5_ChunkedBody, BadChunkSizesAre400) {
    start();
    for (std::string size_line : {"zz\r\n", "0x5\r\n", "-5\r\n", " 5\r\n", "5 5\r\n", "\r\n"}) {
        expect_refused(chunked_post(size_line + "hello\r\n0\r\n\r\n"), 400, "chunk size");
    }
}

TEST_F(Task5_ChunkedBody, ChunkDataMustEndWithCRLF) {
    start();
    expect_refused(chunked_post("5\r\nhelloXX0\r\n\r\n"), 400, "CRLF");
}

// Catches checking only one of the two bytes after the data: the LF alone
// ("helloX\n" passes) or the CR alone ("hello\rX" passes). Either way a
// wrong size would make the middle of someone's data the next size line.
TEST_F(Task5_ChunkedBody, BothBytesAfterTheDataMustBeCRLF) {
    start();
    SCOPED_TRACE("rule: the two bytes after a chunk's data are CR then LF, or 400");
    for (std::string after_data : {"X\n", "\rX", "\n\r", "\n\n", "\r\r"}) {
        expect_refused(chunked_post("5\r\nhello" + after_data + "0\r\n\r\n"), 400, "CRLF");
    }
}

// Catches reading a later size line, or a trailer line, without the limit
// of one line (read_chunk_size() and read_trailer() have it): a line that
// never ends must close the connection, not fill the server's memory
// until the body's time limit (60 s here) runs out.
TEST_F(Task5_ChunkedBody, EveryLineOfAChunkedBodyHasALengthLimit) {
    HTTP1ConnectionParameters params;
    params.max_header_size = 1024;  // the limit of one trailer line
    start(hello_or_echo, params);
    const std::string endless(4096, 'x');  // over both limits, and never a CRLF
    for (std::string body : {"5\r\nhello\r\n5;" + endless,    // the second size line
                             "5\r\nhello\r\n0\r\nX-A: " + endless,  // the first trailer line
                             "0\r\nX-A: a\r\nX-B: " + endless}) {   // a later trailer line
        SCOPED_TRACE("the body: " + escaped(body));
        TestClient client(port());
        try {
            client.send(chunked_post(body));
        } catch (const std::system_error&) {  // a reset: the server closed first
        }
        EXPECT_TRUE(client.closed_by_server(2s))
            << "a line longer than its limit should close the connection";
    }
    expect_still_serving();
}

TEST_F(Task5_ChunkedBody, AMalformedTrailerIs400) {
    start();
    expect_refused(chunked_post("5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n"), 400, "not a token");
}

// Catches merging trailer fields into the request's headers: they are
// checked, then dropped (the framing was settled by the head alone).
TEST_F(Task5_ChunkedBody, TrailerFieldsAreNotAddedToTheHeaders) {
    start([](std::shared_ptr<HTTPServerRequest> request) {
        request->reply(200, request->headers.contains("X-Trailer") ? "merged" : "dropped");
    });
    Response response = fetch(chunked_post("5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "dropped");
}

// Catches leaving the body's time limit running after the last chunk: the
// application may take longer than body_timeout over its answer.
TEST_F(Task5_ChunkedBody, TheApplicationIsNotTimedAfterAChunkedBody) {
    HTTP1ConnectionParameters params;
    params.body_timeout = 300ms;
    start([this](std::shared_ptr<HTTPServerRequest> request) {
        loop.call_later(1s, [request] { request->reply(200, request->body); });
    }, params);
    Response response = fetch(chunked_post("5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hello");
}

TEST_F(Task5_ChunkedBody, ABodyOverTheLimitIs413) {
    HTTP1ConnectionParameters params;
    params.max_body_size = 1000;
    start(hello_or_echo, params);
    std::string six_hundred(600, 'a');
    // 1000 bytes exactly is fine...
    Response response = fetch(chunked_post("258\r\n" + six_hundred + "\r\n190\r\n" +
                                           std::string(400, 'b') + "\r\n0\r\n\r\n"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body.size(), 1000u);
    // ...one more is not, and is refused before the chunk is read.
    expect_refused(chunked_post("258\r\n" + six_hundred + "\r\n191\r\n"), 413, "limit");
    expect_refused(chunked_post("ffffffffffffffff\r\n"), 413, "limit");
}

// The limit check must hold for every size up to 2^64 - 1 once part of the
// body has arrived: "body + size > limit" wraps around here (5 + 2^64 - 5
// is 0), lets the chunk through, and no 413 is sent.
TEST_F(Task5_ChunkedBody, AHugeSizeAfterSomeBodyIsStill413) {
    HTTP1ConnectionParameters params;
    params.max_body_size = 1000;
    start(hello_or_echo, params);
    expect_refused(chunked_post("5\r\nhello\r\nfffffffffffffffb\r\n"), 413, "limit");
    expect_refused(chunked_post("5\r\nhello\r\nfffffffffffffffc\r\n"), 413, "limit");
}

// Four trailer lines of 50 bytes each, CRLF included: 200 bytes in all.
std::string trailer_lines(std::size_t extra_bytes = 0) {
    std::string lines;
    for (int i = 0; i < 4; ++i) {
        lines += "X-Trailer-" + std::to_string(i) + ": " + std::string(35, 't') + "\r\n";
    }
    return lines.insert(13, extra_bytes, 't');  // inside the first value
}

// Catches refusing at the limit instead of past it: trailer lines of
// exactly max_header_size bytes in all are accepted.
TEST_F(Task5_ChunkedBody, TrailersOfExactlyTheHeaderLimitAreAccepted) {
    HTTP1ConnectionParameters params;
    params.max_header_size = 200;
    start(hello_or_echo, params);
    ASSERT_EQ(trailer_lines().size(), 200u);
    Response response = fetch(chunked_post("5\r\nhello\r\n0\r\n" + trailer_lines() + "\r\n"));
    EXPECT_EQ(response.status, 200)
        << "trailers of exactly max_header_size bytes should pass (431 only past the limit): "
        << escaped(response.body);
    EXPECT_EQ(response.body, "hello");
}

// Catches counting a trailer line without its CRLF: 201 bytes of trailer
// lines are 193 without their four CRLFs, under the limit of 200.
TEST_F(Task5_ChunkedBody, TrailerCRLFsCountTowardsTheLimit) {
    HTTP1ConnectionParameters params;
    params.max_header_size = 200;
    start(hello_or_echo, params);
    SCOPED_TRACE("rule: trailer lines count with their CRLFs; past max_header_size, 431");
    expect_refused(chunked_post("5\r\nhello\r\n0\r\n" + trailer_lines(1) + "\r\n"), 431,
                   "trailer");
}

// read_until bounds one trailer line; the trailer section as a whole is
// bounded by max_header_size too, or a client sends trailer lines forever.
TEST_F(Task5_ChunkedBody, TrailersCountTogetherAgainstTheHeaderLimit) {
    HTTP1ConnectionParameters params;
    params.max_header_size = 200;
    start(hello_or_echo, params);
    std::string trailers;
    for (int i = 0; i < 5; ++i) {
        trailers += "X-Trailer-" + std::to_string(i) + ": " + std::string(40, 't') + "\r\n";
    }
    // Each line is well under 200 bytes; the five together are over.
    expect_refused(chunked_post("5\r\nhello\r\n0\r\n" + trailers + "\r\n"), 431, "trailer");
    // Two of them (110 bytes) are under the limit.
    Response response = fetch(chunked_post("5\r\nhello\r\n0\r\n" + trailers.substr(0, 110) + "\r\n"));
    EXPECT_EQ(response.status, 200);
}

}  // namespace
}  // namespace course::testing
