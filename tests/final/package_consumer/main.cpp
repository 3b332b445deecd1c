// Builds against the installed headers and library, and runs a coroutine;
// then uses the web layer, whose signed values need OpenSSL: linking proves
// the package brings its private dependencies along.
#include <tornado/gen.h>
#include <tornado/ioloop.h>
#include <tornado/web.h>

#include <chrono>

class Hello : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write("Hello, world"); }
};

tornado::Task<int> answer() {
    co_await tornado::sleep(std::chrono::milliseconds(5));
    co_return 42;
}

int main() {
    tornado::IOLoop loop;
    int value = loop.run_sync([] { return answer(); });
    tornado::app_log.info("the installed framework answers {}", value);

    tornado::Application app({{"/story/([0-9]+)", tornado::handler<Hello>(), "story"}});
    bool routes = app.reverse_url("story", 7) == "/story/7";
    // Python Tornado: create_signed_value("secret", "user", "ann <&>", clock=lambda: 1300000000)
    bool signs = tornado::create_signed_value("secret", "user", "ann <&>", 1300000000) ==
                 "2|1:0|10:1300000000|4:user|12:YW5uIDwmPg==|"
                 "583ead77ef5097e93741c4a330148027e51d2c1bdafcc92d995541f8961e8be5";
    return value == 42 && routes && signs ? 0 : 1;
}
