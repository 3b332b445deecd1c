// The guide, step 6: a test of step 5's application with AsyncHTTPTestCase
// (README.md beside this file).
//
//   build/bin/guide_6_test
//
// Each test gets a fresh IOLoop, make_app() on an HTTPServer on a free port
// of 127.0.0.1, and fetch(), which runs the loop until the response is back.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "tornado/testing.h"
#include "tornado/websocket.h"

// Step 5, whole, without its main(): GoogleTest brings its own. Including
// the .cpp keeps the guide one file per step; a larger program would put
// make_app() in a library with a header, which the program and the test link.
#define GUIDE_NO_MAIN
#include "5_websocket.cpp"

class GuideTest : public tornado::testing::AsyncHTTPTestCase {
protected:
    // /fetch fetches this same server's story 1: no other server to start,
    // and the answer comes only if the handler leaves the loop free.
    std::shared_ptr<tornado::HTTPServerConnectionDelegate> get_app() override {
        return make_app(get_url("/story/1"));
    }
};

TEST_F(GuideTest, HomePageLinksToTheStories) {
    tornado::HTTPResponse response = fetch("/");
    EXPECT_EQ(response.code, 200);
    EXPECT_NE(response.body.find("Hello, world"), std::string::npos);
    EXPECT_NE(response.body.find("<a href=\"/story/3\">story 3</a>"), std::string::npos);
}

TEST_F(GuideTest, TheTemplateEscapesTheName) {
    tornado::HTTPResponse response = fetch("/?name=%3Cb%3E");
    EXPECT_NE(response.body.find("Hello, &lt;b&gt;"), std::string::npos);
}

TEST_F(GuideTest, StoryRoute) {
    EXPECT_EQ(fetch("/story/7").body, "this is story 7");
    EXPECT_EQ(fetch("/story/seven").code, 404);
}

TEST_F(GuideTest, FetchShowsTheUpstreamsAnswer) {
    tornado::HTTPResponse response = fetch("/fetch");
    EXPECT_EQ(response.code, 200);
    EXPECT_NE(response.body.find("answered 200"), std::string::npos);
    EXPECT_NE(response.body.find("this is story 1"), std::string::npos);
}

TEST_F(GuideTest, EchoSocketAnswers) {
    // A coroutine run on the test's loop: Tornado's @gen_test.
    std::optional<tornado::WebSocketMessage> reply =
        run_sync([this]() -> tornado::Task<std::optional<tornado::WebSocketMessage>> {
            std::string url = "ws://127.0.0.1:" + std::to_string(get_http_port()) + "/ws/echo";
            auto ws = co_await tornado::websocket_connect(url);
            co_await ws->write_message("hello");
            co_return co_await ws->read_message();
        });
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->data, "You said: hello");
}
