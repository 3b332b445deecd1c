// lifecycle_test.cpp: the handler's life cycle and the finish() rules
// (task 3), through a real server: initialize -> prepare -> method ->
// finish -> on_finish, output buffering, status and headers, and a request
// that stays open after the method returns (asynchronous()).
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "web_fixture.h"

namespace course::testing {
namespace {

class Task3_LifeCycle : public WebTest {};

// Records every step of its life in the test's EventLog.
class LifeCycleHandler : public RequestHandler {
public:
    void initialize(EventLog* log, std::string tag) {
        log_ = log;
        tag_ = std::move(tag);
        log_->push_back("initialize " + tag_);
    }
    void prepare() override { log_->push_back("prepare"); }
    void get(const PathArgs& args) override {
        log_->push_back("get " + (args.empty() ? std::string("-") : args[0]));
        write("story " + (args.empty() ? std::string("-") : args[0]) + " from " + tag_);
    }
    void on_finish() override { log_->push_back("on_finish"); }

private:
    EventLog* log_ = nullptr;
    std::string tag_;
};

TEST_F(Task3_LifeCycle, StepsRunInOrder) {
    serve({{"/story/([0-9]+)", handler<LifeCycleHandler>(&log, "stories")}});
    Response response = get("/story/12");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "story 12 from stories");
    EXPECT_EQ(events(), (EventLog{"initialize stories", "prepare", "get 12", "on_finish"}));
}

// Task 4's, beside the life cycle it checks: the 405 page is send_error(),
// which task 4 writes (with only tasks 1 to 3 done it cannot pass).
class Task4_LifeCycleErrors : public WebTest {};

TEST_F(Task4_LifeCycleErrors, AMethodTornadoDoesNotKnowIs405BeforePrepare) {
    // Not GET, HEAD, POST, DELETE, PATCH, PUT or OPTIONS: no part of the
    // handler's own code runs, only the error page and on_finish().
    serve({{"/story/([0-9]+)", handler<LifeCycleHandler>(&log, "stories")}});
    Response response = fetch(get_request("/story/12", "", "BREW"));
    EXPECT_EQ(response.status, 405);
    EXPECT_EQ(events(), (EventLog{"initialize stories", "on_finish"}));
}

// The same rule, task 3's part of it: execute() refuses a method Tornado
// does not know before prepare(), whose work (a login check, a database
// load) would be wasted on a request that can only fail. Whatever the
// answer looks like: with task 4's send_error() not written yet, the
// connection just closes ("Connection: close" closes it after a 405 too).
TEST_F(Task3_LifeCycle, AMethodTornadoDoesNotKnowRunsNoHandlerCode) {
    serve({{"/story/([0-9]+)", handler<LifeCycleHandler>(&log, "stories")}});
    TestClient client(port());
    client.send(get_request("/story/12", "Connection: close\r\n", "BREW"));
    try {
        client.read_until_close(5s);
    } catch (const TimeoutError&) {
        ADD_FAILURE() << "a BREW request was neither answered nor closed within 5 s";
    }
    EventLog seen = events();
    for (const char* step : {"prepare", "get 12"}) {
        EXPECT_EQ(std::count(seen.begin(), seen.end(), step), 0)
            << "execute() ran " << step << " for a BREW request: the 405 for a method "
            << "is_supported_method() does not know comes before prepare()";
    }
}

// execute() hands the exception of every step, the 405 and prepare()
// included, to handle_request_exception(). Task 3's part of it, whatever
// the answer looks like (with task 4 not written yet the error path fails,
// and abandon() closes the connection): the handler is let go, and the
// exception never reaches the connection (chapter 05's "the request
// callback threw", a 500 instead of the handler's 401 or 405).
class PrepareThrowsHandler : public RequestHandler {
public:
    void prepare() override { throw HTTPError(401); }
    void get(const PathArgs&) override { write("not for everyone"); }
};

TEST_F(Task3_LifeCycle, AnExceptionBeforeTheMethodGoesToTheErrorPath) {
    serve({{"/", handler<PrepareThrowsHandler>()}});
    ::testing::internal::CaptureStderr();
    for (const char* method : {"GET", "BREW"}) {
        TestClient client(port());
        client.send(get_request("/", "Connection: close\r\n", method));
        try {
            client.read_until_close(5s);
        } catch (const TimeoutError&) {
            ADD_FAILURE() << "a " << method << " request was neither answered nor closed within 5 s";
        }
    }
    std::size_t still_open = open_handlers();
    std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(still_open, 0u) << "an exception of prepare() or the 405 escaped execute(): nobody "
                                 "finished or abandoned the handler. Every step goes inside "
                                 "execute()'s try; log:\n" << logged;
    EXPECT_EQ(logged.find("the request callback threw"), std::string::npos)
        << "an exception escaped execute() into the connection, which answered 500 itself; "
           "log:\n" << logged;
}

TEST_F(Task3_LifeCycle, EachRouteGivesItsOwnArgumentsToInitialize) {
    serve({
        {"/a", handler<LifeCycleHandler>(&log, "route a")},
        {"/b", handler<LifeCycleHandler>(&log, "route b")},
    });
    EXPECT_EQ(get("/a").body, "story - from route a");
    EXPECT_EQ(get("/b").body, "story - from route b");
}

// A new handler object for every request: state does not leak between them.
class CountingHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write(std::to_string(++calls_)); }

private:
    int calls_ = 0;
};

TEST_F(Task3_LifeCycle, EveryRequestGetsANewHandler) {
    serve({{"/", handler<CountingHandler>()}});
    EXPECT_EQ(get("/").body, "1");
    EXPECT_EQ(get("/").body, "1");
}

class EarlyPrepareHandler : public RequestHandler {
public:
    void initialize(EventLog* log) { log_ = log; }
    void prepare() override {
        if (get_argument("early", "") == "yes") finish("finished in prepare");
    }
    void get(const PathArgs&) override {
        log_->push_back("get");
        write("from get");
    }
    void on_finish() override { log_->push_back("on_finish"); }

private:
    EventLog* log_ = nullptr;
};

TEST_F(Task3_LifeCycle, PrepareThatFinishesSkipsTheMethod) {
    serve({{"/", handler<EarlyPrepareHandler>(&log)}});
    Response response = get("/?early=yes");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "finished in prepare");
    EXPECT_EQ(events(), EventLog{"on_finish"}) << "get() must not run after prepare() finished";

    EXPECT_EQ(get("/").body, "from get");
    EXPECT_EQ(events(), (EventLog{"on_finish", "get", "on_finish"}));
}

// Breaks the finish rules on purpose and records what each call did.
class RuleBreakingHandler : public RequestHandler {
public:
    void initialize(EventLog* log) { log_ = log; }
    void get(const PathArgs&) override {
        finish("done");
        try_to("finish again", [this] { finish(); });
        try_to("write after finish", [this] { write("more"); });
    }
    void on_finish() override { log_->push_back("on_finish"); }

private:
    template <typename Step>
    void try_to(const std::string& what, Step step) {
        try {
            step();
            log_->push_back(what + ": allowed");
        } catch (const std::logic_error&) {
            log_->push_back(what + ": refused");
        }
    }
    EventLog* log_ = nullptr;
};

TEST_F(Task3_LifeCycle, FinishOnceOnFinishOnce) {
    serve({{"/", handler<RuleBreakingHandler>(&log)}});
    Response response = get("/");
    EXPECT_EQ(response.body, "done");
    EXPECT_EQ(events(), (EventLog{"on_finish", "finish again: refused",
                                  "write after finish: refused"}));
    expect_still_serving();
}

class BufferedHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        write("Hello");
        write(", ");
        write("world");
    }
};

TEST_F(Task3_LifeCycle, WritesAreBufferedAndSentWithALength) {
    serve({{"/", handler<BufferedHandler>()}});
    Response response = get("/");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "Hello, world");
    EXPECT_EQ(response.header("content-length"), "12");
    EXPECT_FALSE(response.has("transfer-encoding"));
    EXPECT_EQ(response.header("content-type"), "text/html; charset=UTF-8");
    EXPECT_TRUE(response.has("date"));
    EXPECT_TRUE(response.has("server"));
}

// finish() adds a Content-Length only when the handler set none. A HEAD
// answer is where it shows: it writes no body, and its Content-Length must
// still be the size of the GET's body (StaticFileHandler's head() sets it so).
class SizedHeadHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("twelve bytes"); }
    void head(const PathArgs&) override { set_header("Content-Length", "12"); }
};

TEST_F(Task3_LifeCycle, AContentLengthTheHandlerSetIsKept) {
    serve({{"/", handler<SizedHeadHandler>()}});
    TestClient client(port());
    // On one connection: the GET's answer starting right after the HEAD's
    // head shows that the HEAD sent no body.
    client.send(get_request("/", "", "HEAD") + get_request("/"));
    Response headed = read_response(client, true);
    EXPECT_EQ(headed.status, 200);
    EXPECT_EQ(headed.header("content-length"), "12")
        << "finish() replaced the Content-Length the handler set with the size of what it "
           "wrote: it must add one only when the handler set none";
    EXPECT_EQ(read_response(client).body, "twelve bytes");
}

class StatusAndHeadersHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        set_status(201);
        set_header("Content-Type", "text/plain");
        set_header("X-Answer", "41");
        set_header("X-Answer", "42");  // replaces
        add_header("X-Many", "a");
        add_header("X-Many", "b");     // adds
        set_header("X-Gone", "soon");
        clear_header("X-Gone");
        write("created");
    }
};

TEST_F(Task3_LifeCycle, SetStatusAndHeaders) {
    serve({{"/", handler<StatusAndHeadersHandler>()}});
    Response response = get("/");
    EXPECT_EQ(response.status, 201);
    EXPECT_EQ(response.head.substr(0, 22), "HTTP/1.1 201 Created\r\n");
    EXPECT_EQ(response.header("content-type"), "text/plain");
    EXPECT_EQ(response.headers.count("x-answer"), 1u);
    EXPECT_EQ(response.header("x-answer"), "42");
    EXPECT_EQ(response.headers.count("x-many"), 2u);
    EXPECT_FALSE(response.has("x-gone"));
    EXPECT_EQ(response.body, "created");
}

class NoContentHandler : public RequestHandler {
public:
    void delete_(const PathArgs&) override { set_status(204); }
};

TEST_F(Task3_LifeCycle, A204HasNoBodyAndNoContentType) {
    serve({{"/item", handler<NoContentHandler>()}});
    TestClient client(port());
    client.send(get_request("/item", "", "DELETE") + get_request("/item", "", "DELETE"));
    for (int i = 0; i < 2; ++i) {  // the second proves the first left no stray bytes
        Response response = read_response(client);
        EXPECT_EQ(response.status, 204);
        EXPECT_FALSE(response.has("content-type"));
        EXPECT_FALSE(response.has("content-length"));
    }
}

// 304 and every 1xx carry no body either (RFC 9110), so finish() treats
// them as it treats 204: no Content-Length, no Content-Type. Checked here,
// not only by the error and static-file tasks, because finish() is task 3.
class BodilessStatusHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override { set_status(std::stoi(args[0])); }
};

TEST_F(Task3_LifeCycle, A304HasNoBodyAndNoContentType) {
    serve({{"/status/([0-9]+)", handler<BodilessStatusHandler>()}});
    TestClient client(port());
    client.send(get_request("/status/304") + get_request("/status/304"));
    for (int i = 0; i < 2; ++i) {  // the second proves the first left no stray bytes
        Response response = read_response(client);
        EXPECT_EQ(response.status, 304);
        EXPECT_FALSE(response.has("content-type")) << "finish() must treat 304 as it treats 204";
        EXPECT_FALSE(response.has("content-length")) << "finish() must treat 304 as it treats 204";
    }
}

// Neither this chapter nor Tornado can send an interim 1xx before the real
// answer, but a handler may set a 1xx status, which then is the whole
// response (the test's client reads it as a head without a body). finish()
// applies the rule to every status from 100 to 199, as Tornado's does.
TEST_F(Task3_LifeCycle, A1xxHasNoBodyAndNoContentType) {
    serve({{"/status/([0-9]+)", handler<BodilessStatusHandler>()}});
    TestClient client(port());
    client.send(get_request("/status/100") + get_request("/status/199"));
    for (int status : {100, 199}) {
        Response response = read_response(client);
        EXPECT_EQ(response.status, status);
        EXPECT_FALSE(response.has("content-type")) << "finish() must treat 1xx as it treats 204";
        EXPECT_FALSE(response.has("content-length")) << "finish() must treat 1xx as it treats 204";
    }
}

class FlushingHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        write("first ");
        flush();
        write("second");
    }
};

TEST_F(Task3_LifeCycle, FlushSendsEarlyAndTheRestIsChunked) {
    serve({{"/", handler<FlushingHandler>()}});
    Response response = get("/");
    EXPECT_EQ(response.status, 200);
    EXPECT_FALSE(response.has("content-length")) << "the length is unknown at the first flush";
    EXPECT_EQ(response.header("transfer-encoding"), "chunked");
    EXPECT_EQ(response.body, "first second");
}

// Callback style: the request stays open after get() returns, and a
// callback run later finishes it. The test runs that callback on the loop
// when it has checked that nothing was sent before: with a timer instead,
// a test thread kept off the CPU for longer than the timer (beside the
// other tests of make test) read the answer where it expected none.
class LaterHandler : public RequestHandler {
public:
    void initialize(EventLog* log, std::function<void()>* finish_later) {
        log_ = log;
        finish_later_ = finish_later;
    }
    void get(const PathArgs&) override {
        auto self = asynchronous();
        *finish_later_ = [self, log = log_] {
            log->push_back("finish");
            self->finish("later");
        };
        log_->push_back("get returned");
    }
    void on_finish() override { log_->push_back("on_finish"); }

private:
    EventLog* log_ = nullptr;
    std::function<void()>* finish_later_ = nullptr;
};

TEST_F(Task3_LifeCycle, AnAsynchronousRequestStaysOpenUntilFinish) {
    std::function<void()> finish_later;  // set and run on the loop thread only
    serve({{"/", handler<LaterHandler>(&log, &finish_later)}});
    TestClient client(port());
    client.send(get_request("/"));
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (events().empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    ASSERT_EQ(events(), EventLog{"get returned"});
    EXPECT_THROW(client.read_until("\r\n\r\n", 100ms), TimeoutError)
        << "no response before finish()";
    EXPECT_EQ(open_handlers(), 1u) << "the Application holds the open handler";

    on_loop([&] {
        finish_later();
        finish_later = nullptr;  // the handler it holds goes on the loop thread
    });
    Response response = read_response(client);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "later");
    EXPECT_EQ(events(), (EventLog{"get returned", "finish", "on_finish"}));
    EXPECT_EQ(open_handlers(), 0u) << "finish() ends the Application's hold";
}

// The handler object itself is freed once finished and unreferenced.
class WatchedHandler : public RequestHandler {
public:
    void initialize(std::weak_ptr<RequestHandler>* watch) { watch_ = watch; }
    void get(const PathArgs&) override {
        *watch_ = weak_from_this();
        auto self = asynchronous();
        IOLoop::current().call_later(std::chrono::milliseconds(50), [self] { self->finish("ok"); });
    }

private:
    std::weak_ptr<RequestHandler>* watch_ = nullptr;
};

TEST_F(Task3_LifeCycle, TheHandlerIsFreedAfterFinish) {
    std::weak_ptr<RequestHandler> watch;
    serve({{"/", handler<WatchedHandler>(&watch)}});
    EXPECT_EQ(get("/").body, "ok");
    bool expired = false;
    on_loop([&] { expired = watch.expired(); });
    EXPECT_TRUE(expired) << "nothing should hold a finished handler";
}

// A method that ends the request itself (finish, redirect) must not be
// finished again by execute(): that second finish() throws, and the only
// trace of the mistake would be a line in the server's log.
class FinishesItselfHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { finish("mine"); }
};

class RedirectsHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { redirect("/elsewhere"); }
};

TEST_F(Task3_LifeCycle, AMethodThatFinishesItselfIsNotFinishedAgain) {
    serve({{"/self", handler<FinishesItselfHandler>()}, {"/away", handler<RedirectsHandler>()}});
    ::testing::internal::CaptureStderr();
    Response finished = get("/self");
    Response redirected = get("/away");
    std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(finished.body, "mine");
    EXPECT_EQ(redirected.status, 302);
    EXPECT_EQ(logged.find("finish() called twice"), std::string::npos)
        << "execute() finished a request that was finished already:\n" << logged;
    EXPECT_EQ(logged.find("Uncaught exception"), std::string::npos) << logged;
}

// A callback that captured `this` (not the shared_ptr asynchronous()
// returns) and calls finish(): the Application's hold keeps the handler
// alive until then, and finish() must keep it alive to its own end, so
// that on_finish() runs on a live object, before the destructor.
class CapturesThisHandler : public RequestHandler {
public:
    void initialize(EventLog* log) { log_ = log; }
    ~CapturesThisHandler() override { log_->push_back("destroyed"); }
    void get(const PathArgs&) override {
        asynchronous();  // the shared_ptr it returns is dropped at once
        IOLoop::current().call_later(std::chrono::milliseconds(20), [this] { finish("late"); });
    }
    void on_finish() override { log_->push_back("on_finish"); }

private:
    EventLog* log_ = nullptr;
};

TEST_F(Task3_LifeCycle, FinishKeepsTheHandlerAliveUntilOnFinishHasRun) {
    serve({{"/", handler<CapturesThisHandler>(&log)}});
    EXPECT_EQ(get("/").body, "late");
    EXPECT_EQ(events(), (EventLog{"on_finish", "destroyed"}))
        << "the handler was freed before on_finish() ran (or never)";
    EXPECT_EQ(open_handlers(), 0u);
}

// The access log (Application::Settings::log_function, by default
// log_request) hears of each request once, from finish(), before
// on_finish() runs: on_finish() is the last step of all.
class ForbiddenHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        set_status(403);
        write("not for you");
    }
};

TEST_F(Task3_LifeCycle, EveryRequestIsLoggedOnceBeforeOnFinish) {
    Application::Settings settings;
    settings.log_function = [this](const RequestHandler& handler) {  // on the loop thread
        log.push_back("logged " + std::to_string(handler.get_status()) + " " +
                      handler.request().path);
    };
    serve({{"/story/([0-9]+)", handler<LifeCycleHandler>(&log, "stories")},
           {"/forbidden", handler<ForbiddenHandler>()}},
          std::move(settings));
    EXPECT_EQ(get("/story/12").body, "story 12 from stories");
    EXPECT_EQ(get("/forbidden").status, 403);
    EXPECT_EQ(events(), (EventLog{"initialize stories", "prepare", "get 12", "logged 200 /story/12",
                                  "on_finish", "logged 403 /forbidden"}))
        << "finish() must hand each request to the Application's log once, before on_finish()";
}

// on_finish() comes last: the response is out and finished() is true, so a
// write() there is refused instead of going nowhere.
class LooksBackFromOnFinishHandler : public RequestHandler {
public:
    void initialize(EventLog* log) { log_ = log; }
    void get(const PathArgs&) override { write("the whole answer"); }
    void on_finish() override {
        log_->push_back(finished() ? "on_finish sees it finished" : "on_finish sees it open");
        try {
            write(" and more");
            log_->push_back("write in on_finish: allowed");
        } catch (const std::logic_error&) {
            log_->push_back("write in on_finish: refused");
        }
    }

private:
    EventLog* log_ = nullptr;
};

TEST_F(Task3_LifeCycle, OnFinishRunsWhenTheResponseCanNoLongerChange) {
    serve({{"/", handler<LooksBackFromOnFinishHandler>(&log)}});
    Response response = get("/");
    EXPECT_EQ(response.body, "the whole answer");
    EXPECT_EQ(events(), (EventLog{"on_finish sees it finished", "write in on_finish: refused"}))
        << "on_finish() ran before finish() had marked the request finished";
}

// A 204 or 304 cannot carry a body: finish() refuses one with
// std::logic_error before anything is sent (task 4's ABodyWithA304Is500
// sees the 500 this becomes). This handler catches the refusal, drops the
// body and lets execute() finish the bodiless answer.
class BodyWithoutRoomHandler : public RequestHandler {
public:
    void initialize(EventLog* log) { log_ = log; }
    void get(const PathArgs& args) override {
        int status = std::stoi(args[0]);
        set_status(status);
        write("no room for this");
        try {
            finish();
            log_->push_back(args[0] + " with a body: finished");
        } catch (const std::logic_error&) {
            log_->push_back(args[0] + " with a body: refused");
            clear();
            set_status(status);
        }
    }

private:
    EventLog* log_ = nullptr;
};

TEST_F(Task3_LifeCycle, FinishRefusesABodyWithA204OrA304) {
    serve({{"/status/([0-9]+)", handler<BodyWithoutRoomHandler>(&log)}});
    TestClient client(port());
    client.send(get_request("/status/204") + get_request("/status/304"));
    EXPECT_EQ(read_response(client).status, 204);
    EXPECT_EQ(read_response(client).status, 304);
    EXPECT_EQ(events(), (EventLog{"204 with a body: refused", "304 with a body: refused"}))
        << "finish() must throw std::logic_error for a body with a 204 or 304";
}

// When even the error path fails (send_error() starts with clear(), which
// calls set_default_headers(), and this one throws once the method has
// failed), no answer can be sent. execute() must log it and abandon():
// close the connection, so the client knows at once, and let the
// Application release the handler.
class ErrorPathFailsHandler : public RequestHandler {
public:
    void set_default_headers() override {
        if (method_failed_) throw std::runtime_error("the error page cannot be made either");
    }
    void get(const PathArgs&) override {
        method_failed_ = true;
        throw std::runtime_error("the method failed");
    }

private:
    bool method_failed_ = false;
};

TEST_F(Task3_LifeCycle, AFailingErrorPathClosesTheConnectionAndReleasesTheHandler) {
    serve({{"/", handler<HelloHandler>()}, {"/fails", handler<ErrorPathFailsHandler>()}});
    ::testing::internal::CaptureStderr();
    TestClient client(port());
    client.send(get_request("/fails"));
    std::string sent;
    bool closed = true;
    try {
        sent = client.read_until_close(5s);
    } catch (const TimeoutError&) {
        closed = false;
    }
    std::size_t still_open = open_handlers();
    std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(closed) << "the error path failed and the connection stayed open: execute() must "
                           "abandon() the request, or its client waits for ever";
    EXPECT_EQ(sent, "") << "abandon() closes the connection without an answer";
    EXPECT_EQ(still_open, 0u) << "abandon() must let the Application release the handler";
    EXPECT_NE(logged.find("Exception in exception handler"), std::string::npos)
        << "the failure of the error path must be logged:\n" << logged;
    expect_still_serving();
}

// Not graded: set_header is given code, not an exercise.
TEST(Headers, SetHeaderRefusesControlBytesInValuesAndNonTokenNames) {
    RequestHandler handler;
    EXPECT_THROW(handler.set_header("X-Injected", "a\r\nSet-Cookie: evil=1"),
                 std::invalid_argument);
    EXPECT_THROW(handler.set_header("X-A", "a\nb"), std::invalid_argument);
    EXPECT_THROW(handler.set_header("X-A", std::string("a\0b", 3)), std::invalid_argument);
    EXPECT_THROW(handler.add_header("X-A", "tab\there"), std::invalid_argument)
        << "Tornado refuses every byte below 0x20";
    EXPECT_THROW(handler.set_header("X A", "v"), std::invalid_argument);
    EXPECT_THROW(handler.set_header("X-A:", "v"), std::invalid_argument);
    EXPECT_THROW(handler.set_header("", "v"), std::invalid_argument);
    EXPECT_NO_THROW(handler.set_header("X-Fine", "any text, even \xc3\xa9 or \"quotes\""));
}

}  // namespace
}  // namespace course::testing
