// Builds against the installed headers and library, and runs a coroutine.
#include <tornado/gen.h>
#include <tornado/ioloop.h>

#include <chrono>

tornado::Task<int> answer() {
    co_await tornado::sleep(std::chrono::milliseconds(5));
    co_return 42;
}

int main() {
    tornado::IOLoop loop;
    int value = loop.run_sync([] { return answer(); });
    tornado::app_log.info("the installed framework answers {}", value);
    return value == 42 ? 0 : 1;
}
