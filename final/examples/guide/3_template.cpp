// The guide, step 3: a template with render() (README.md beside this file).
//
//   build/bin/guide_3_template --port=8888
//   curl 'http://127.0.0.1:8888/?name=<b>'   -> Hello, &lt;b&gt; and the links
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"

class MainHandler : public tornado::RequestHandler {
public:
    // templates/index.html escapes {{ name }}: a name of "<script>" is shown, not run.
    void get(const tornado::PathArgs&) override {
        render("index.html", {{"name", get_argument("name", "world")}, {"story_ids", {1, 2, 3}}});
    }
};

class StoryHandler : public tornado::RequestHandler {
public:
    // args[0]: what the route's group ([0-9]+) matched.
    void get(const tornado::PathArgs& args) override { write("this is story " + args[0]); }
};

// Tornado's make_app(): the routes, for main() and for step 6's test. On
// the heap: an Application is neither copied nor moved.
std::unique_ptr<tornado::Application> make_app() {
    std::vector<tornado::URLSpec> routes = {
        {"/", tornado::handler<MainHandler>()},
        // The third field names the route, for reverse_url.
        {"/story/([0-9]+)", tornado::handler<StoryHandler>(), "story"},
    };
    // GUIDE_TEMPLATE_DIR, set by CMakeLists.txt, is this folder's templates/:
    // Tornado's os.path.join(os.path.dirname(__file__), "templates").
    tornado::ApplicationSettings settings{.template_path = GUIDE_TEMPLATE_DIR};
    return std::make_unique<tornado::Application>(std::move(routes), std::move(settings));
}

static auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    std::unique_ptr<tornado::Application> app = make_app();
    tornado::HTTPServer& server = app->listen(static_cast<std::uint16_t>(*port), "127.0.0.1");
    // --port=0 lets the system pick the port: this line names it, for scripts.
    std::printf("Listening on http://127.0.0.1:%u/\n", unsigned{server.port()});
    std::fflush(stdout);
    tornado::IOLoop& loop = tornado::IOLoop::current();
    // Ctrl-C or SIGTERM: stop accepting, finish the requests in progress, exit 0.
    loop.install_signal_handlers();
    loop.start();
}
