// Tests of errors in a RequestHandler (final/src/web/web.cpp): HTTPError's
// status, reason and log message, an exception as a 500 that tells nothing
// (or, in debug, the exception as text), Finish, statuses that have no
// body, send_error() and a custom write_error(). The WebTest suite's
// application is in web_test_util.h.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tornado/log.h"
#include "tornado/testing.h"
#include "tornado/web.h"
#include "web_test_util.h"

namespace tornado {
namespace {

using web_test::WebTest;

// --- errors -------------------------------------------------------------------------

TEST_F(WebTest, HTTPErrorLogMessageStaysInTheLog) {
    HTTPResponse response = fetch("/errors/http");
    EXPECT_EQ(response.code, 404);
    EXPECT_EQ(response.body.find("secret"), std::string::npos);
}

TEST_F(WebTest, HTTPErrorReasonInStatusLineAndPage) {
    HTTPResponse response = fetch("/errors/reason");
    EXPECT_EQ(response.code, 499);
    EXPECT_EQ(response.reason, "Custom Reason");
    EXPECT_NE(response.body.find("499: Custom Reason"), std::string::npos);
}

TEST_F(WebTest, ExceptionIs500WithoutDetailsAndTheServerGoesOn) {
    HTTPResponse response = fetch("/errors/crash");
    EXPECT_EQ(response.code, 500);
    EXPECT_EQ(response.body.find("kaboom"), std::string::npos);
    EXPECT_EQ(fetch("/").code, 200);
}

TEST_F(WebTest, FinishExceptionEndsWithWhatWasWritten) {
    HTTPResponse response = fetch("/errors/finish");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "partial and finished");
}

TEST_F(WebTest, HTTPErrorThatCannotBeSentBecomesSafe) {
    EXPECT_EQ(fetch("/errors/not_a_status").code, 500);
    HTTPResponse response = fetch("/errors/unsafe_reason");
    EXPECT_EQ(response.code, 400);
    EXPECT_EQ(response.reason, "Bad Request");
}

// Tornado's rules: an HTTPError(304) is a plain 304; a handler that writes
// a body for a status that has none has a bug, answered 500 and logged.
TEST_F(WebTest, BodilessStatuses) {
    HTTPResponse not_modified = fetch("/errors/not_modified");
    EXPECT_EQ(not_modified.code, 304);
    EXPECT_EQ(not_modified.body, "");
    for (std::string status : {"204", "304"}) {
        testing::ExpectLog expected(app_log, "Cannot send body with " + status);
        HTTPResponse response = fetch("/errors/body" + status);
        EXPECT_EQ(response.code, 500) << status;
        EXPECT_NE(response.body.find("500: Internal Server Error"), std::string::npos);
    }
}

// Tornado's clear_header("Server"): the connection then adds none either.
TEST_F(WebTest, ClearedServerAndDateHeadersAreNotSent) {
    HTTPResponse plain = fetch("/");
    EXPECT_TRUE(plain.headers.contains("Server"));
    EXPECT_TRUE(plain.headers.contains("Date"));
    HTTPResponse anonymous = fetch("/errors/no_server");
    EXPECT_EQ(anonymous.body, "anonymous");
    EXPECT_FALSE(anonymous.headers.contains("Server"));
    EXPECT_FALSE(anonymous.headers.contains("Date"));
}

TEST_F(WebTest, SendErrorAndCustomWriteError) {
    EXPECT_EQ(fetch("/errors/send_error").code, 503);
    HTTPResponse custom = fetch("/custom_error");
    EXPECT_EQ(custom.code, 410);
    EXPECT_EQ(custom.body, "custom page for 410");
}

class DebugWebTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.debug = true;
        return std::make_shared<Application>(std::vector<URLSpec>{{"/errors/(.*)", handler<web_test::ErrorsHandler>()}},
                                             settings);
    }
};

TEST_F(DebugWebTest, DebugShowsTheExceptionAsText) {
    HTTPResponse response = fetch("/errors/crash");
    EXPECT_EQ(response.code, 500);
    EXPECT_EQ(response.headers.get("Content-Type"), "text/plain; charset=UTF-8");
    EXPECT_NE(response.body.find("kaboom <b>"), std::string::npos) << response.body;
}

}  // namespace
}  // namespace tornado
