// coroutine_handler.h: RequestHandler methods that are coroutines. Tornado's
// `async def get(self)`.
//
//   class SleepHandler : public CoroutineRequestHandler {
//   public:
//       Task<void> get_async(PathArgs args) override {
//           co_await sleep(std::chrono::milliseconds(100));
//           write("slept 100");
//       }   // the request finishes when the Task does
//   };
//
// Chapter 06's RequestHandler calls a void get(). This class implements
// that get() once and for all: it marks the request asynchronous(),
// starts the Task that get_async() returns, and when the Task ends it
// finish()es the request (unless the Task did), or, if the Task threw,
// answers with the error page: HTTPError(N) gives status N, any other
// exception a 500, both through write_error() as in chapter 06.
//
// Write get_async, post_async, put_async or delete_async; the ones you do
// not write answer 405. prepare() stays a plain function. Parameters by
// value (PathArgs args), as for every coroutine: see task.h.
//
// Lifetime: the coroutine that runs the Task holds the handler (a
// shared_ptr), so the handler lives until the Task ends, even if the
// client has gone (writes to a closed connection do nothing).
#pragma once

#include <exception>
#include <memory>

#include <task.h>  // <> on purpose: see "Includes" in task.h
#include "web.h"

namespace course {

namespace detail {
struct Detached;  // gen.h: a coroutine that frees its own frame
}

class CoroutineRequestHandler : public RequestHandler {
public:
    // Write these, as coroutines, instead of get(), post(), ...
    virtual Task<void> get_async(PathArgs args);
    virtual Task<void> post_async(PathArgs args);
    virtual Task<void> put_async(PathArgs args);
    virtual Task<void> delete_async(PathArgs args);

    // Chapter 06 calls these; each runs the matching coroutine. final: a
    // coroutine handler that also overrode get() would never run get_async.
    void get(const PathArgs& args) final { run(get_async(args)); }
    void post(const PathArgs& args) final { run(post_async(args)); }
    void put(const PathArgs& args) final { run(put_async(args)); }
    void delete_(const PathArgs& args) final { run(delete_async(args)); }

private:
    // Keeps the request open and starts `method`.
    void run(Task<void> method);
    // The coroutine that awaits `method`, then finishes the request.
    static detail::Detached drive(std::shared_ptr<CoroutineRequestHandler> handler,
                                  Task<void> method);
    // The Task threw `error` (null for what is not a std::exception):
    // chapter 06's handle_request_exception logs it and answers with the
    // error page, as for a method that throws.
    void fail(const std::exception* error);
};

}  // namespace course
