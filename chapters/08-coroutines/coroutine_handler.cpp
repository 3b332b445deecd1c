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
    // asynchronous(): the request stays open when get() returns; drive()
    // finishes it when the Task ends.
    auto self = std::static_pointer_cast<CoroutineRequestHandler>(asynchronous());
    drive(std::move(self), std::move(method));
}

// Tornado's _execute, whose `await method()` sits in a try. Its frame
// frees itself at the end (detail::Detached); `handler` keeps the handler
// alive until then, whatever the client does meanwhile.
detail::Detached CoroutineRequestHandler::drive(std::shared_ptr<CoroutineRequestHandler> handler,
                                                Task<void> method) {
    try {
        co_await std::move(method);
        if (!handler->finished()) handler->finish();
    } catch (const std::exception& error) {
        handler->fail(&error);
    } catch (...) {
        handler->fail(nullptr);
    }
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
