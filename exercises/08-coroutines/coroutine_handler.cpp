// coroutine_handler.cpp: see coroutine_handler.h.
#include <coroutine_handler.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

#include <gen.h>  // <> on purpose: see "Includes" in task.h

namespace course {

Task<void> CoroutineRequestHandler::get_async(PathArgs) { throw HTTPError(405); }
Task<void> CoroutineRequestHandler::post_async(PathArgs) { throw HTTPError(405); }
Task<void> CoroutineRequestHandler::put_async(PathArgs) { throw HTTPError(405); }
Task<void> CoroutineRequestHandler::delete_async(PathArgs) { throw HTTPError(405); }

void CoroutineRequestHandler::run(Task<void> method) {
    // TODO(task 5): the request stays open when get() returns (chapter 06's
    // asynchronous()), and drive() takes `method` to its end.
    // Hint: make hint CH=08 TASK=5.
    (void)method;
    throw std::logic_error("TODO(task 5): CoroutineRequestHandler::run");
}

// Tornado's _execute, whose `await method()` sits in a try. Its frame
// frees itself at the end (detail::Detached); `handler` keeps the handler
// alive until then, whatever the client does meanwhile.
detail::Detached CoroutineRequestHandler::drive(std::shared_ptr<CoroutineRequestHandler> handler,
                                                Task<void> method) {
    // TODO(task 5): await `method` and turn its end into the response: a
    // normal end finishes the request unless the Task did; any exception goes
    // to handler->fail() (the std::exception, or nullptr for anything else),
    // as Tornado's _execute does.
    (void)handler;
    (void)method;
    throw std::logic_error("TODO(task 5): CoroutineRequestHandler::drive");
}

// Chapter 06's handle_request_exception is private, so its few lines are
// repeated here: log, then send_error with the status the error asks for.
void CoroutineRequestHandler::fail(const std::exception* error) {
    const auto* http_error = dynamic_cast<const HTTPError*>(error);
    std::string summary = request().method + " " + request().uri + " (" + request().remote_ip + ")";
    if (http_error == nullptr) {
        std::fprintf(stderr, "Uncaught exception %s: %s\n", summary.c_str(),
                     error != nullptr ? error->what() : "(not a std::exception)");
    } else if (!http_error->log_message().empty()) {
        std::fprintf(stderr, "%d %s: %s\n", http_error->status_code(), summary.c_str(),
                     http_error->log_message().c_str());
    }
    if (finished()) return;
    try {
        send_error(http_error != nullptr ? http_error->status_code() : 500, error);
    } catch (const std::exception& again) {
        // No response can be sent: close, so that the client knows now.
        std::fprintf(stderr, "Exception in exception handler %s: %s\n", summary.c_str(),
                     again.what());
        request().connection->close();
    }
}

}  // namespace course
