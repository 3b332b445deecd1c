// Tests of the Conversation (conversation.h), the protocol of chapters 01-03.
// Task5_* grade exercise task 5 (the keep-alive rules); the rest check the
// parts of the protocol the exercise hands out complete.
#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <string>

#include "conversation.h"

using course::Conversation;

TEST(Conversation, EchoesLines) {
    Conversation c;
    EXPECT_EQ(c.receive("hel"), "");
    EXPECT_EQ(c.receive("lo\nworld\n"), "hello\nworld\n");
    EXPECT_FALSE(c.finished());
}

TEST(Conversation, AnswersHttpWithKeepAlive) {
    Conversation c;
    std::string reply = c.receive("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(reply, std::string("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello, world") +
                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello, world");
    EXPECT_FALSE(c.finished());
}

// ---- Helpers ------------------------------------------------------------------

namespace {

const std::string kHelloReply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello, world";

int count(const std::string& text, const std::string& what) {
    int n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// Feeds `input` to a fresh Conversation in two pieces split at `split`.
std::string reply_in_two_pieces(const std::string& input, std::size_t split) {
    Conversation c;
    std::string reply = c.receive(std::string_view(input).substr(0, split));
    return reply + c.receive(std::string_view(input).substr(split));
}

}  // namespace

// ---- Echo -----------------------------------------------------------------------

TEST(Conversation, EchoKeepsLineEndingsAndBytesAsSent) {
    Conversation c;
    std::string binary = std::string("a\0b\xff", 4) + "\r\n";
    EXPECT_EQ(c.receive(binary), binary);
    EXPECT_EQ(c.receive("one\r\ntwo\nthree"), "one\r\ntwo\n");
    EXPECT_EQ(c.receive("\n"), "three\n");
    EXPECT_FALSE(c.finished());
}

TEST(Conversation, EchoOneByteAtATime) {
    Conversation c;
    std::string input = "hello\nworld\n";
    std::string reply;
    for (char byte : input) reply += c.receive(std::string_view(&byte, 1));
    EXPECT_EQ(reply, input);
}

TEST(Conversation, FirstLineChoosesTheProtocolForGood) {
    Conversation echo;
    EXPECT_EQ(echo.receive("hello\nGET / HTTP/1.1\n\n"), "hello\nGET / HTTP/1.1\n\n");
    Conversation lowercase;  // "get" is not an HTTP method name
    EXPECT_EQ(lowercase.receive("get / HTTP/1.1\n"), "get / HTTP/1.1\n");
}

// ---- HTTP -----------------------------------------------------------------------

TEST(Conversation, PipelinedRequestsInOneChunkEachGetAReply) {
    Conversation c;
    std::string request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    std::string reply = c.receive(request + request + request);
    EXPECT_EQ(reply, kHelloReply + kHelloReply + kHelloReply);
}

TEST(Conversation, BareNewlinesAreAcceptedAsLineEnds) {
    Conversation c;
    EXPECT_EQ(c.receive("GET / HTTP/1.1\nHost: x\n\n"), kHelloReply);
}

TEST(Conversation, BlankLinesBeforeARequestAreIgnored) {
    Conversation c;
    std::string request = "GET / HTTP/1.1\r\n\r\n";
    EXPECT_EQ(c.receive(request + "\r\n\r\n" + request), kHelloReply + kHelloReply);
}

TEST(Conversation, ContentLengthBodyIsSkippedNotReadAsRequests) {
    Conversation c;
    // The body looks like a request; it must not be answered.
    std::string body = "GET /x HTTP/1.1\r\n\r\n";
    std::string post = "POST / HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    EXPECT_EQ(c.receive(post + "GET / HTTP/1.1\r\n\r\n"), kHelloReply + kHelloReply);
    EXPECT_FALSE(c.finished());
}

TEST(Conversation, SameRepliesWhereverTheInputIsSplit) {
    // Two requests, the first with a body: split the bytes at every position,
    // the replies must be the same.
    std::string input = "POST /form HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello=world"
                        "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (std::size_t split = 0; split <= input.size(); ++split) {
        EXPECT_EQ(reply_in_two_pieces(input, split), kHelloReply + kHelloReply) << "split at byte " << split;
    }
}

TEST(Conversation, BodyArrivingOneByteAtATime) {
    Conversation c;
    EXPECT_EQ(c.receive("PUT / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), "");
    EXPECT_EQ(c.receive("a"), "");
    EXPECT_EQ(c.receive("bcd"), "");
    EXPECT_EQ(c.receive("e"), kHelloReply);
}

TEST(Conversation, HugeContentLengthIsSkippedWithoutBuffering) {
    Conversation c;
    EXPECT_EQ(c.receive("POST / HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n"), "");
    std::string megabyte(1 << 20, 'x');
    for (int i = 0; i < 4; ++i) EXPECT_EQ(c.receive(megabyte), "");
    EXPECT_EQ(c.buffered_bytes(), 0u);
    EXPECT_FALSE(c.finished());
}

// ---- Refusals: too long, malformed, unsupported -----------------------------

TEST(Conversation, LineTooLongIsRefusedInEcho) {
    Conversation c;
    std::string reply = c.receive(std::string(Conversation::kMaxLineLength + 1, 'a'));
    EXPECT_EQ(reply, "error: line too long\n");
    EXPECT_TRUE(c.finished());
}

TEST(Conversation, LineOfExactlyTheLimitIsAccepted) {
    Conversation c;
    std::string line = std::string(Conversation::kMaxLineLength, 'a') + "\n";
    EXPECT_EQ(c.receive(line), line);
    EXPECT_FALSE(c.finished());
}

TEST(Conversation, HeaderTooLongIsRefusedWith400) {
    Conversation c;
    std::string reply = c.receive("GET / HTTP/1.1\r\nX-Big: " + std::string(Conversation::kMaxLineLength, 'b') + "\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << reply;
    EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos);
    EXPECT_NE(reply.find("line too long"), std::string::npos);
    EXPECT_TRUE(c.finished());
}

TEST(Conversation, LongLineInSmallPiecesNeverBuffersMoreThanTheLimit) {
    Conversation c;
    std::string reply;
    for (std::size_t i = 0; i < 3 * Conversation::kMaxLineLength && !c.finished(); ++i) {
        reply += c.receive("z");
        ASSERT_LE(c.buffered_bytes(), Conversation::kMaxLineLength + 1);
    }
    EXPECT_TRUE(c.finished());
    EXPECT_EQ(reply, "error: line too long\n");
}

TEST(Conversation, MalformedHttpIsRefusedWith400) {
    const char* bad[] = {
        "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\nthis is not a request line\r\n",
    };
    for (const char* input : bad) {
        Conversation c;
        std::string reply = c.receive(input);
        EXPECT_NE(reply.find("HTTP/1.1 400 Bad Request\r\n"), std::string::npos) << input;
        EXPECT_TRUE(c.finished()) << input;
    }
}

TEST(Conversation, IgnoresEverythingAfterTheEnd) {
    Conversation c;
    c.receive(std::string(Conversation::kMaxLineLength + 1, 'a'));
    ASSERT_TRUE(c.finished());
    EXPECT_EQ(c.buffered_bytes(), 0u);
    EXPECT_EQ(c.receive("more\n"), "");
    EXPECT_EQ(c.receive(std::string(1 << 20, 'x')), "");
    EXPECT_EQ(c.buffered_bytes(), 0u) << "a finished conversation must not keep what it is sent";
}

TEST(Conversation, RandomGarbageNeverCrashesNorHoardsMemory) {
    // Bytes from a fixed-seed generator, biased towards the characters the
    // parser cares about, fed in pieces of random size. Under the sanitizers
    // (SANITIZE=address,undefined) this doubles as a small fuzz test.
    std::mt19937 random(20240601);
    const std::string interesting[] = {"GET / HTTP/1.1\r\n", "HEAD / HTTP/1.0\r\n", "\r\n", "\n", ":",
                                       "Content-Length: 3\r\n", "Connection: close\r\n", " ", "\t",
                                       "Content-Length: 99999\r\n", std::string(1, '\0')};
    for (int round = 0; round < 300; ++round) {
        Conversation c;
        for (int piece = 0; piece < 200 && !c.finished(); ++piece) {
            std::string bytes;
            std::size_t size = 1 + random() % 300;
            while (bytes.size() < size) {
                if (random() % 4 == 0) {
                    bytes += interesting[random() % std::size(interesting)];
                } else {
                    bytes += static_cast<char>(random() % 256);
                }
            }
            std::string reply = c.receive(bytes);
            ASSERT_LE(c.buffered_bytes(), Conversation::kMaxLineLength + bytes.size());
            ASSERT_LE(reply.size(), 8 * bytes.size() + 200) << "a reply out of all proportion";
        }
    }
}

// ---- Task 5: the keep-alive rules (Conversation::answer_http_request) ---------

TEST(Task5_KeepAlive, Http11KeepsTheConnectionByDefault) {
    Conversation c;
    EXPECT_EQ(c.receive("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), kHelloReply);
    EXPECT_FALSE(c.finished());
    EXPECT_EQ(c.receive("GET /again HTTP/1.1\r\n\r\n"), kHelloReply);
}

TEST(Task5_KeepAlive, Http11ConnectionCloseEndsAfterTheReply) {
    Conversation c;
    std::string reply = c.receive("GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n");
    EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
                     "Connection: close\r\n\r\nHello, world");
    EXPECT_TRUE(c.finished());
}

TEST(Task5_KeepAlive, Http10ClosesByDefault) {
    Conversation c;
    std::string reply = c.receive("GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(count(reply, "HTTP/1.1 200 OK\r\n"), 1);
    EXPECT_NE(reply.find("\r\nConnection: close\r\n"), std::string::npos) << reply;
    EXPECT_TRUE(c.finished());
}

TEST(Task5_KeepAlive, Http10KeepsTheConnectionWhenAskedAndSaysSo) {
    Conversation c;
    std::string reply = c.receive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
                     "Connection: keep-alive\r\n\r\nHello, world");
    EXPECT_FALSE(c.finished());
}

TEST(Task5_KeepAlive, EachRequestDecidesForItself) {
    Conversation c;
    std::string first = c.receive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_NE(first.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << first;
    EXPECT_FALSE(c.finished());
    std::string second = c.receive("GET / HTTP/1.0\r\n\r\n");  // no header this time
    EXPECT_NE(second.find("\r\nConnection: close\r\n"), std::string::npos) << second;
    EXPECT_TRUE(c.finished());
}

TEST(Task5_KeepAlive, HeaderNameAndValueIgnoreCase) {
    Conversation c;
    c.receive("GET / HTTP/1.1\r\nCONNECTION: Close\r\n\r\n");
    EXPECT_TRUE(c.finished());
}

TEST(Task5_KeepAlive, HeadGetsTheHeadersWithoutTheBody) {
    Conversation c;
    std::string reply = c.receive("HEAD / HTTP/1.1\r\n\r\nHEAD / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
                     "Connection: close\r\n\r\n");
    EXPECT_TRUE(c.finished());
}

TEST(Task5_KeepAlive, RequestWithABodyIsAnsweredAfterTheBody) {
    Conversation c;
    EXPECT_EQ(c.receive("POST / HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nab"), "");
    EXPECT_FALSE(c.finished());
    std::string reply = c.receive("c");
    EXPECT_NE(reply.find("Connection: close"), std::string::npos);
    EXPECT_TRUE(c.finished());
}
