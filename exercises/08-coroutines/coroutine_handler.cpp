// coroutine_handler.cpp: see coroutine_handler.h.
#include <coroutine_handler.h>

#include <cstdio>
#include <stdexcept>
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
    // as Tornado's _execute does, and so does one from that last finish().
    (void)handler;
    (void)method;
    throw std::logic_error("TODO(task 5): CoroutineRequestHandler::drive");
}

// Chapter 06's handle_request_exception does what its execute() does for a
// method that throws: log, then the error page with the status the error
// asks for (unless the Task finished the request already). C++ can throw
// what is not a std::exception (throw 42); a stand-in that says so takes
// its place, so the log names it and the answer is a 500, as for any error
// without a status.
void CoroutineRequestHandler::fail(const std::exception* error) {
    const std::runtime_error not_a_std_exception("(not a std::exception)");
    try {
        handle_request_exception(error != nullptr ? *error : not_a_std_exception);
    } catch (const std::exception& again) {
        // The error path failed too, as in chapter 06's execute(): log it,
        // close, and let the Application release the handler.
        std::fprintf(stderr, "Exception in exception handler %s %s (%s): %s\n",
                     request().method.c_str(), request().uri.c_str(),
                     request().remote_ip.c_str(), again.what());
        abandon();
    }
}

}  // namespace course
