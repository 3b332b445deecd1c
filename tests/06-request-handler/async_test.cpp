// async_test.cpp: callback-style handlers. A request that waits on a timer
// must not hold up anyone else, and a handler that never calls finish()
// leaves its client (and whatever that client pipelined after it) waiting,
// while the rest of the server carries on.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "web_fixture.h"

namespace course::testing {
namespace {

using Clock = std::chrono::steady_clock;

class Task3_AsyncHandlers : public WebTest {};

class SleepHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        int ms = std::stoi(get_argument("ms"));
        auto self = asynchronous();
        IOLoop::current().call_later(std::chrono::milliseconds(ms), [self, ms] {
            self->finish("slept " + std::to_string(ms));
        });
    }
};

// asynchronous(), and then nothing. The handler's address goes to the test
// so that it can look at it, and end it by hand.
class ForgetfulHandler : public RequestHandler {
public:
    void initialize(std::weak_ptr<RequestHandler>* forgotten) { forgotten_ = forgotten; }
    void get(const PathArgs&) override {
        asynchronous();
        *forgotten_ = weak_from_this();
        write("sent only if someone else finishes me");
    }

private:
    std::weak_ptr<RequestHandler>* forgotten_ = nullptr;
};

TEST_F(Task3_AsyncHandlers, OthersAreServedWhileOneWaits) {
    serve({{"/", handler<HelloHandler>()}, {"/sleep", handler<SleepHandler>()}});
    TestClient sleeper(port());
    auto started = Clock::now();
    sleeper.send(get_request("/sleep?ms=600"));

    for (int i = 0; i < 5; ++i) {
        Response hello = get("/");
        EXPECT_EQ(hello.body, "Hello, world");
    }
    EXPECT_LT(Clock::now() - started, 400ms) << "the other clients waited for the sleeper";

    Response slept = read_response(sleeper);
    EXPECT_EQ(slept.body, "slept 600");
    EXPECT_GE(Clock::now() - started, 590ms);
}

TEST_F(Task3_AsyncHandlers, ManyWaitAtOnceOnOneThread) {
    serve({{"/sleep", handler<SleepHandler>()}});
    std::vector<std::unique_ptr<TestClient>> clients;
    auto started = Clock::now();
    for (int i = 0; i < 20; ++i) {
        clients.push_back(std::make_unique<TestClient>(port()));
        clients.back()->send(get_request("/sleep?ms=300"));
    }
    for (auto& client : clients) EXPECT_EQ(read_response(*client).body, "slept 300");
    // One after the other would take 6 s; waiting together, about 0.3 s.
    EXPECT_LT(Clock::now() - started, 2s);
}

TEST_F(Task3_AsyncHandlers, AFinishAfterTheClientLeftIsHarmless) {
    Application::Settings settings;
    // finish() tells the access log before it lets the handler go: the test
    // waits for that line (written on the loop thread, as all of `log` is).
    settings.log_function = [this](const RequestHandler& handler) {
        log.push_back("finished " + handler.request().path);
    };
    serve({{"/", handler<HelloHandler>()}, {"/sleep", handler<SleepHandler>()}},
          std::move(settings));
    {
        TestClient leaver(port());
        leaver.send(get_request("/sleep?ms=100"));
    }  // closed before the answer
    // The timer finishes it 100 ms later: wait for that, with a bound that a
    // loaded machine cannot reach (not a fixed sleep that assumes speed).
    auto deadline = Clock::now() + 10s;
    while (events().empty() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(events(), EventLog{"finished /sleep"}) << "the timer's finish() never came";
    EXPECT_EQ(open_handlers(), 0u) << "the handler finished into a closed connection and went";
    expect_still_serving();
}

TEST_F(Task3_AsyncHandlers, AForgottenFinishLeavesTheClientWaiting) {
    std::weak_ptr<RequestHandler> forgotten;
    serve({{"/", handler<HelloHandler>()}, {"/forgot", handler<ForgetfulHandler>(&forgotten)}});
    TestClient waiting(port());
    waiting.send(get_request("/forgot"));
    EXPECT_THROW(waiting.read_until("\r\n\r\n", 500ms), TimeoutError)
        << "no finish(), no response";

    // Everyone else is served as usual...
    expect_still_serving();
    // ...while the handler stays allocated, held by the Application.
    EXPECT_EQ(open_handlers(), 1u);
    bool alive = false;
    on_loop([&] { alive = !forgotten.expired(); });
    EXPECT_TRUE(alive);

    // Whoever finishes it releases the client, with what it had written.
    on_loop([&] { forgotten.lock()->finish(); });
    Response response = read_response(waiting);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "sent only if someone else finishes me");
    EXPECT_EQ(open_handlers(), 0u);
}

TEST_F(Task3_AsyncHandlers, PipelinedRequestsWaitBehindAForgottenFinish) {
    std::weak_ptr<RequestHandler> forgotten;
    serve({{"/", handler<HelloHandler>()}, {"/forgot", handler<ForgetfulHandler>(&forgotten)}});
    TestClient client(port());
    client.send(get_request("/forgot") + get_request("/"));
    EXPECT_THROW(client.read_until("\r\n\r\n", 500ms), TimeoutError)
        << "the second request waits behind the first on its connection";
    EXPECT_EQ(open_handlers(), 1u) << "the second request has not even started";

    on_loop([&] { forgotten.lock()->finish(); });
    EXPECT_EQ(read_response(client).body, "sent only if someone else finishes me");
    EXPECT_EQ(read_response(client).body, "Hello, world");
}

}  // namespace
}  // namespace course::testing
