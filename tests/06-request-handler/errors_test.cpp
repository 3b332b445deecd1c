// errors_test.cpp: HTTPError, send_error and write_error (task 4): the
// status and Tornado's default error page, 404 and 405, a missing argument,
// an exception in a handler (500, and the server goes on), custom error
// pages, and errors after part of the response has gone out.
#include <stdexcept>
#include <string>

#include "escape.h"
#include "web_fixture.h"

namespace course::testing {
namespace {

class Task4_Errors : public WebTest {};

class StatusErrorHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override {
        write("this output is replaced by the error page");
        throw HTTPError(std::stoi(args[0]), "logged, never shown to the client");
    }
};

TEST_F(Task4_Errors, AnHTTPErrorGivesItsStatusAndTheDefaultPage) {
    serve({{"/error/([0-9]+)", handler<StatusErrorHandler>()}});
    Response response = get("/error/403");
    EXPECT_EQ(response.status, 403);
    EXPECT_EQ(response.body, error_page(403, "Forbidden"));
    EXPECT_EQ(response.header("content-type"), "text/html; charset=UTF-8");
    EXPECT_EQ(response.header("content-length"), std::to_string(response.body.size()));

    response = get("/error/503");
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.body, error_page(503, "Service Unavailable"));
}

TEST_F(Task4_Errors, AnUnknownStatusIsUnknown) {
    serve({{"/error/([0-9]+)", handler<StatusErrorHandler>()}});
    Response response = get("/error/599");
    EXPECT_EQ(response.status, 599);
    EXPECT_EQ(response.body, error_page(599, "Unknown"));
}

class ReasonHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { throw HTTPError(418, "", get_argument("reason")); }
};

TEST_F(Task4_Errors, TheErrorsReasonGoesOnThePageEscaped) {
    serve({{"/", handler<ReasonHandler>()}});
    EXPECT_EQ(get("/?reason=I%27m+a+teapot").body, error_page(418, "I&#39;m a teapot"));
    // A reason with "<" or control bytes is not trusted at all (Tornado).
    EXPECT_EQ(get("/?reason=%3Cscript%3E").body, error_page(418, "Unknown"));
}

class MissingArgumentHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("hello " + get_argument("name")); }
};

TEST_F(Task4_Errors, AMissingArgumentIs400) {
    serve({{"/", handler<MissingArgumentHandler>()}});
    Response response = get("/");
    EXPECT_EQ(response.status, 400);
    // Tornado 6.2's MissingArgumentError keeps the name for the log only.
    EXPECT_EQ(response.body, error_page(400, "Bad Request"));
    EXPECT_EQ(get("/?name=ada").body, "hello ada");
}

// log_message never reaches the page, so the server's log is the only place
// that says why a request failed ("Missing argument message", "not a number
// ..."): handle_request_exception() logs every exception, an HTTPError too.
TEST_F(Task4_Errors, AnHTTPErrorsLogMessageGoesToTheLog) {
    serve({{"/error/([0-9]+)", handler<StatusErrorHandler>()},
           {"/missing", handler<MissingArgumentHandler>()}});
    ::testing::internal::CaptureStderr();
    Response forbidden = get("/error/403");
    Response missing = get("/missing");
    EXPECT_EQ(open_handlers(), 0u);  // the loop is done with both: their log lines are out
    std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(forbidden.status, 403);
    EXPECT_EQ(forbidden.body.find("logged, never shown"), std::string::npos);
    EXPECT_EQ(missing.status, 400);
    EXPECT_NE(logged.find("logged, never shown to the client"), std::string::npos)
        << "handle_request_exception() must log every exception (log_exception()), an HTTPError "
           "too: its log_message is for the log; log:\n" << logged;
    EXPECT_NE(logged.find("Missing argument name"), std::string::npos)
        << "a MissingArgumentError's log_message names the argument, in the log only; log:\n"
        << logged;
}

class CrashingHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { throw std::runtime_error("the handler crashed"); }
};

TEST_F(Task4_Errors, AnExceptionIs500AndTheServerGoesOn) {
    serve({{"/", handler<HelloHandler>()}, {"/crash", handler<CrashingHandler>()}});
    TestClient client(port());
    client.send(get_request("/crash") + get_request("/"));
    Response crashed = read_response(client);
    EXPECT_EQ(crashed.status, 500);
    EXPECT_EQ(crashed.body, error_page(500, "Internal Server Error"));
    EXPECT_EQ(crashed.body.find("crashed"), std::string::npos)
        << "the exception's text is for the log, not the client";
    Response next = read_response(client);
    EXPECT_EQ(next.status, 200) << "the same keep-alive connection goes on";
    EXPECT_EQ(next.body, "Hello, world");
    expect_still_serving();
}

TEST_F(Task4_Errors, AnUnknownPathIs404) {
    serve({{"/", handler<HelloHandler>()}});
    Response response = get("/nope");
    EXPECT_EQ(response.status, 404);
    EXPECT_EQ(response.body, error_page(404, "Not Found"));
    EXPECT_EQ(fetch(post_request("/nope", "x=1")).status, 404);
}

class NotHereHandler : public RequestHandler {
public:
    void prepare() override {
        set_status(404);
        finish("nothing at " + xhtml_escape(request().path));
    }
};

TEST_F(Task4_Errors, TheDefaultHandlerClassServesUnknownPaths) {
    serve({{"/", handler<HelloHandler>()}},
          {.default_handler_class = handler<NotHereHandler>()});
    Response response = get("/missing");
    EXPECT_EQ(response.status, 404);
    EXPECT_EQ(response.body, "nothing at /missing");
    EXPECT_EQ(get("/").body, "Hello, world");
}

TEST_F(Task4_Errors, AMethodTheHandlerLacksIs405) {
    serve({{"/", handler<HelloHandler>()}});
    Response response = fetch(post_request("/", "x=1"));
    EXPECT_EQ(response.status, 405);
    EXPECT_EQ(response.body, error_page(405, "Method Not Allowed"));
    EXPECT_EQ(fetch(get_request("/", "", "DELETE")).status, 405);
    EXPECT_EQ(fetch(get_request("/", "", "HEAD"), true).status, 405)
        << "HEAD is not GET: a handler defines head() to answer it (as in Tornado)";
    EXPECT_EQ(fetch(get_request("/", "", "BREW")).status, 405) << "a method Tornado does not know";
    EXPECT_EQ(get("/").status, 200);
}

// A custom error page: JSON naming the status and the exception.
class JsonErrorHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        if (get_argument("kind", "") == "http") throw HTTPError(403);
        throw std::runtime_error("disk on fire");
    }
    void write_error(int status_code, const std::exception* error) override {
        std::string what = error != nullptr ? error->what() : "";
        write_json("{\"code\": " + std::to_string(status_code) +
                   ", \"error\": " + json_encode(what) + "}");
    }
};

TEST_F(Task4_Errors, WriteErrorCanBeOverridden) {
    serve({{"/", handler<JsonErrorHandler>()}});
    Response response = get("/");
    EXPECT_EQ(response.status, 500);
    EXPECT_EQ(response.header("content-type"), "application/json; charset=UTF-8");
    EXPECT_EQ(response.body, "{\"code\": 500, \"error\": \"disk on fire\"}");
    response = get("/?kind=http");
    EXPECT_EQ(response.status, 403);
    EXPECT_EQ(response.body, "{\"code\": 403, \"error\": \"HTTP 403: Forbidden\"}");
}

// What the handler set before it failed goes with what it wrote: the error
// page is HTML, without the handler's JSON Content-Type or its own headers.
class HeadersThenErrorHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        set_header("X-Partial", "yes");
        write_json("{\"half\": ");
        throw HTTPError(400);
    }
};

TEST_F(Task4_Errors, TheErrorPageDropsTheHeadersTheHandlerSet) {
    serve({{"/", handler<HeadersThenErrorHandler>()}});
    Response response = get("/");
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.body, error_page(400, "Bad Request"));
    EXPECT_EQ(response.header("content-type"), "text/html; charset=UTF-8")
        << "send_error() must clear() the headers too, not only the output";
    EXPECT_FALSE(response.has("x-partial")) << "send_error() must clear() the headers too";
}

// The default write_error() finishes the response; send_error() must not
// finish it a second time. That second finish() would throw, and only the
// server's log would show it ("Exception in exception handler").
TEST_F(Task4_Errors, TheErrorPageIsFinishedOnce) {
    serve({{"/error/([0-9]+)", handler<StatusErrorHandler>()}, {"/crash", handler<CrashingHandler>()}});
    ::testing::internal::CaptureStderr();
    Response forbidden = get("/error/403");
    Response crashed = get("/crash");
    EXPECT_EQ(open_handlers(), 0u);  // the loop is done with both: their log lines are out
    std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(forbidden.status, 403);
    EXPECT_EQ(crashed.status, 500);
    for (const char* sign : {"finish() called twice", "Exception in exception handler"}) {
        EXPECT_EQ(logged.find(sign), std::string::npos)
            << "send_error() finished a response that write_error() had finished:\n" << logged;
    }
}

class BrokenWriteErrorHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { throw HTTPError(400); }
    void write_error(int, const std::exception*) override {
        write("half an error page");
        throw std::runtime_error("write_error itself failed");
    }
};

TEST_F(Task4_Errors, AWriteErrorThatThrowsStillEndsTheResponse) {
    serve({{"/", handler<BrokenWriteErrorHandler>(), "x"}, {"/hello", handler<HelloHandler>()}});
    TestClient client(port());
    client.send(get_request("/") + get_request("/hello"));
    Response response = read_response(client);
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(read_response(client).body, "Hello, world");
}

class ErrorInPrepareHandler : public RequestHandler {
public:
    void initialize(EventLog* log) { log_ = log; }
    void prepare() override { throw HTTPError(401); }
    void get(const PathArgs&) override { log_->push_back("get"); }
    void on_finish() override { log_->push_back("on_finish"); }

private:
    EventLog* log_ = nullptr;
};

TEST_F(Task4_Errors, AnErrorInPrepareSkipsTheMethod) {
    serve({{"/", handler<ErrorInPrepareHandler>(&log)}});
    Response response = get("/");
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(response.body, error_page(401, "Unauthorized"));
    EXPECT_EQ(events(), EventLog{"on_finish"});
}

class ErrorAfterFlushHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        write("the start of a page");
        flush();
        throw std::runtime_error("too late for a status");
    }
};

TEST_F(Task4_Errors, AnErrorAfterFlushEndsTheResponseAsItIs) {
    serve({{"/", handler<ErrorAfterFlushHandler>()}, {"/hello", handler<HelloHandler>()}});
    TestClient client(port());
    client.send(get_request("/") + get_request("/hello"));
    Response response = read_response(client);
    EXPECT_EQ(response.status, 200) << "the status line had gone out already";
    EXPECT_EQ(response.body, "the start of a page");
    EXPECT_EQ(read_response(client).body, "Hello, world") << "and the connection goes on";
}

// An exception after finish(): the client has its whole answer and gets
// nothing more, but the exception is a bug all the same, and the server's
// log is the only place it can show. Tornado logs first, then returns.
class ThrowsAfterFinishHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        finish("all done");
        throw std::runtime_error("the cleanup after finish failed");
    }
};

TEST_F(Task4_Errors, AnExceptionAfterFinishIsStillLogged) {
    serve({{"/", handler<HelloHandler>()}, {"/late", handler<ThrowsAfterFinishHandler>()}});
    ::testing::internal::CaptureStderr();
    Response response = get("/late");
    // The response goes out before the exception is handled: wait for the
    // loop to be done with the request before reading the log.
    EXPECT_EQ(open_handlers(), 0u);
    std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "all done");
    EXPECT_NE(logged.find("the cleanup after finish failed"), std::string::npos)
        << "an exception thrown after finish() was dropped without a log line; log:\n" << logged;
    EXPECT_EQ(logged.find("Cannot send error response"), std::string::npos)
        << "handle_request_exception() must only log an exception thrown after finish(), not "
           "try send_error(): that logs a failed error page for a request that was answered; "
           "log:\n" << logged;
    expect_still_serving();
}

class UnsafeHeaderHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        set_header("X-Echo", get_argument("value"));
        write("echoed");
    }
};

TEST_F(Task4_Errors, AnUnsafeHeaderValueIs500NotAnInjectedHeader) {
    serve({{"/", handler<UnsafeHeaderHandler>()}});
    EXPECT_EQ(get("/?value=fine").header("x-echo"), "fine");
    Response response = get("/?value=a%0D%0ASet-Cookie:+evil%3D1");
    EXPECT_EQ(response.status, 500);
    EXPECT_FALSE(response.has("set-cookie"));
    EXPECT_FALSE(response.has("x-echo"));
}

class NoBodyAllowedHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        set_status(304);
        write("a 304 cannot carry this");
    }
};

TEST_F(Task4_Errors, ABodyWithA304Is500) {
    serve({{"/", handler<HelloHandler>()}, {"/304", handler<NoBodyAllowedHandler>()}});
    EXPECT_EQ(get("/304").status, 500);
    expect_still_serving();
}

// Tornado's send_error(304) writes no error page: a 304 has no body, and
// the connection stays usable for the next request.
class NotModifiedHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { throw HTTPError(304); }
};

TEST_F(Task4_Errors, AnHTTPError304HasNoPage) {
    serve({{"/", handler<HelloHandler>()}, {"/304", handler<NotModifiedHandler>()}});
    Response response = get("/304");
    EXPECT_EQ(response.status, 304);
    EXPECT_EQ(response.body, "");
    EXPECT_FALSE(response.has("content-length") && response.header("content-length") != "0");
    expect_still_serving();
}

}  // namespace
}  // namespace course::testing
