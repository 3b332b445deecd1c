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
    std::exception_ptr first_error;
    for (const std::exception_ptr& error : gathering.errors) {
        if (!error) continue;
        if (first_error) {
            log_extra_failure(error);
        } else {
            first_error = error;
        }
    }
    if (first_error) return gathering.all.set_exception(first_error);
    if constexpr (std::is_void_v<T>) {
        gathering.all.set_result();
    } else {
        std::vector<T> results;
        results.reserve(gathering.slots.size());
        for (std::optional<T>& slot : gathering.slots) results.push_back(std::move(*slot));
        gathering.all.set_result(std::move(results));
    }
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
    for (std::size_t i = 0; i < children.size(); ++i) {
        children[i].add_done_callback([gathering, i](Future<T> child) {
            if (child.exception()) {
                gathering->errors[i] = child.exception();
            } else if constexpr (!std::is_void_v<T>) {
                gathering->slots[i] = child.result();  // a copy: the child keeps its own
            }
            if (--gathering->unfinished == 0) detail::finish_gathering(*gathering);
        });
    }
    return gathering->all;
}

}  // namespace course
