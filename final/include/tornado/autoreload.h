// tornado/autoreload.h: restart the program when it is rebuilt (Tornado's
// `tornado.autoreload`).
//
//   tornado::autoreload::watch("config.json");   // besides the program itself
//   tornado::autoreload::start();                // on IOLoop::current()
//   loop.start();
//
// Tornado watches the Python files the program imported; a C++ program's
// code is its executable, so that is what is watched, with any file given
// to watch(). Every check_time the loop stats them; when one has changed,
// and stayed unchanged for one more check (a linker writes a binary in many
// steps, and running half of one fails), the reload hooks run and the
// process execs its executable again with the arguments it was started
// with: same pid, a fresh program, listening sockets closed on the way
// (every descriptor the framework makes is close-on-exec).
//
// Application::listen starts it when ApplicationSettings::autoreload is on
// (unset: on in debug, as in Tornado); a program that makes its HTTPServer
// itself calls start(). Nothing happens in a worker of fork_processes: a
// worker cannot re-exec the whole group (Tornado's rule too; restart the
// parent instead, or run the program under autoreload::main).
//
// autoreload::main is Tornado's `python -m tornado.autoreload`: a wrapper
// that runs a program as its child and starts it anew whenever its
// executable or a watched file changes, and also after the program exits
// and then changes (build/bin/final_autoreload PROGRAM ARGS..., from
// final/examples/autoreload).
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace tornado::autoreload {

// Watches the executable and the watched files on IOLoop::current(),
// checking every check_time. A second call on the same loop does nothing;
// on another loop it logs a warning (two loops would exec twice).
void start(std::chrono::milliseconds check_time = std::chrono::milliseconds(500));
// Runs a new IOLoop until a watched file changes, then restarts the
// program: the end of a test runner that runs again after a rebuild.
// Never returns normally (the exec replaces the program).
void wait();
// Adds a file to watch besides the executable (a missing one is watched
// from when it appears; its first sighting is not a change).
void watch(std::string filename);
// Runs before the exec, in the order added: flush what must not be lost.
// Descriptors are better marked close-on-exec than closed here.
void add_reload_hook(std::function<void()> hook);

// Runs argv[1], argv[2]... as a child (argv[1] looked for in PATH unless
// it holds a '/') and restarts it when its executable or a file given with
// --watch=FILE (before the program) changes. SIGINT or SIGTERM stop the
// child and then the wrapper. Returns the exit status for the wrapper's
// own main: 2 for a usage error.
int main(int argc, char** argv);

}  // namespace tornado::autoreload
