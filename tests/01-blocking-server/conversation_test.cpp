#include <gtest/gtest.h>

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
