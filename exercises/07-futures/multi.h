// multi.h (exercise): the chapter's multi.h with the key functions cut out;
// each is marked TODO(task 3). See README.md beside this file.
//
// multi.h: wait for many Futures at once. Tornado's tornado.gen.multi.
//
//   std::vector<Future<HTTPResponse>> fetches = {client.fetch(a), client.fetch(b)};
//   multi(fetches).add_done_callback([](Future<std::vector<HTTPResponse>> all) {
//       auto& responses = all.result();     // responses[0] is a's, [1] is b's
//   });
//
// The operations run at the same time (they were all started before
// multi() was called); multi only waits. So two 100 ms fetches take about
// 100 ms together, not 200.
//
// The rules are gen.multi's:
// * The results come in the order of the list, not the order the Futures
//   finished in.
// * multi waits for every child, even after one has failed, and only then
//   resolves. If any failed, it fails with the exception of the first
//   failed child *in list order*; the other exceptions are logged to
//   stderr. (asyncio.gather, by contrast, fails as soon as one child does.)
// * An empty list gives a Future that is done at once with no results.
// * For std::vector<Future<void>> the result is a Future<void>.
#pragma once

#include <cstddef>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <future.h>  // <> on purpose: see "Includes" in future.h

namespace course {

namespace detail {

// What a multi() gathers while its children finish. Each child's callback
// holds it; it holds no child, so a child that never finishes leaks nothing.
template <typename T>
struct Gathering {
    using Results = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
    using Slot = std::conditional_t<std::is_void_v<T>, std::monostate, std::optional<T>>;

    Gathering(std::size_t children, IOLoop& loop)
        : slots(children), errors(children), unfinished(children), all(loop) {}

    std::vector<Slot> slots;                  // the results, in list order
    std::vector<std::exception_ptr> errors;   // the exceptions, in list order
    std::size_t unfinished;
    Future<Results> all;
};

// Logs an exception that multi() cannot report (one failure is enough).
inline void log_extra_failure(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "multi: another Future failed too: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "multi: another Future failed too\n");
    }
}

// Every child is done: resolve `all` with the results or the first error.
template <typename T>
void finish_gathering(Gathering<T>& gathering) {
    // TODO(task 3): every child is done: resolve gathering.all. If any child
    // failed, `all` fails with the first failure in list order, and every
    // other failure goes to log_extra_failure(), not lost. Otherwise `all`
    // gets the values in list order; for T = void it is just done.
    // Hint: make hint CH=07 TASK=3.
    (void)gathering;
    throw std::logic_error("TODO(task 3): finish_gathering");
}

}  // namespace detail

// One Future for the results of all `children`, in their order: a
// Future<std::vector<T>>, or Future<void> when T is void.
template <typename T>
auto multi(const std::vector<Future<T>>& children) {
    IOLoop& loop = children.empty() ? IOLoop::current() : children.front().io_loop();
    auto gathering = std::make_shared<detail::Gathering<T>>(children.size(), loop);
    if (children.empty()) {
        detail::finish_gathering(*gathering);
        return gathering->all;
    }
    // TODO(task 3): each child, when done, records its own outcome at its own
    // index (gathering->errors or ->slots; a copy of the value), and the last
    // child to finish (gathering->unfinished), not the first to fail, has
    // detail::finish_gathering() resolve `all`. Rule: the children's callbacks
    // keep the shared Gathering alive, and nothing in it holds a child.
    throw std::logic_error("TODO(task 3): multi");
    return gathering->all;  // unreachable: keeps multi()'s return type until you write it
}

}  // namespace course
