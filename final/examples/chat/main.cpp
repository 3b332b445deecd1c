// chat: Tornado's chat demo. Open http://127.0.0.1:8888/ in two browser
// windows and talk: each window long-polls /chat/updates, and a message
// posted in one shows in the other at once.
//
//   build/bin/final_chat [--port=8888] [--address=127.0.0.1] [--static_dir=DIR]
//                        [--template_dir=DIR]
#include <cstdio>
#include <memory>

#include "chat.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"

static auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
static auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
static auto& static_dir =
    tornado::define("static_dir", chat::default_static_dir(),
                    "the chat page's script and style sheet (chat.js, chat.css)");
static auto& template_dir = tornado::define("template_dir", chat::default_template_dir(),
                                            "the chat's templates (index.html, message.html)");

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    tornado::IOLoop loop;
    auto buffer = std::make_shared<chat::MessageBuffer>();
    tornado::Application app(chat::chat_routes(buffer, *static_dir, *template_dir));
    app.add_handlers({{"/", tornado::handler<tornado::RedirectHandler>("/chat", false)}});
    tornado::HTTPServer& server = app.listen(static_cast<std::uint16_t>(*port), *address);
    std::printf("Listening on http://%s:%u/\n", address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    loop.install_signal_handlers();
    loop.start();
    return 0;
}
