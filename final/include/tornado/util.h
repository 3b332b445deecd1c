// tornado/util.h: small pieces every other module stands on.
//
// Tornado's `tornado.util` holds the odds and ends the framework shares
// (`TimeoutError`, `errno_from_exception`, ...). The C++ twin holds:
//
//   TimeoutError     what with_timeout() and run_sync() throw when time runs out;
//   Function<Sig>    a move-only std::function with room for three pointers
//                    inline, so the loop can queue a callback without
//                    allocating (std::function allocates as soon as a lambda
//                    captures anything non-trivial, and cannot hold a
//                    move-only one);
//   FileDescriptor   owns one descriptor and closes it exactly once;
//   throw_errno()    turns a failed system call into std::system_error.
//
// Example:
//
//   tornado::Function<void()> callback = [future = std::move(future)]() mutable {
//       future.set_result(42);
//   };
//   callback();
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace tornado {

// An operation did not finish in time (Tornado's tornado.util.TimeoutError).
class TimeoutError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Whether `error` holds an E (or a class derived from it). Rethrowing is
// the only portable way to ask an exception_ptr what it holds: slow, so
// for error paths only.
template <typename E>
bool holds_exception(const std::exception_ptr& error) noexcept {
    if (!error) return false;
    try {
        std::rethrow_exception(error);
    } catch (const E&) {
        return true;
    } catch (...) {
        return false;
    }
}

// Throws std::system_error for `call` with the current errno, for example
// "epoll_ctl ADD fd 7: Bad file descriptor".
[[noreturn]] void throw_errno(const std::string& call);

// Owns one file descriptor. Move-only: copying would close it twice.
class FileDescriptor {
public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
    ~FileDescriptor() { reset(); }

    FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
    FileDescriptor& operator=(FileDescriptor&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;

    // The descriptor, still owned by this object (-1 when it owns none).
    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return valid(); }

    // Gives up ownership without closing.
    int release() noexcept { return std::exchange(fd_, -1); }
    // Closes the current descriptor (if any) and owns `fd` instead.
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

// `count` bytes of an open file, from `offset`: its descriptor stays open
// while `keeper` lives (IOStream::write_file; a large static file).
struct FileBytes {
    std::shared_ptr<const void> keeper;
    int fd = -1;
    std::int64_t offset = 0;
    std::size_t count = 0;
};

// Declared for a function type only, Function<R(Args...)>: the
// specialization below is the class. InlineSize is the room, in bytes, for a
// callable kept without allocating (three pointers unless given).
template <typename Signature, std::size_t InlineSize = 3 * sizeof(void*)>
class Function;

// A move-only callable wrapper. Callables up to three pointers in size (a
// lambda capturing `this` and a Future, a coroutine handle, ...) live inline;
// bigger ones are boxed on the heap. A callable whose result is not void may
// be stored in a Function<void(...)>: its result is dropped (a dropped Task
// keeps running, see gen.h). InlineSize: where a Function is kept by the
// thousand (the loop's handler per descriptor), less room inline makes each
// one smaller.
template <typename R, typename... Args, std::size_t InlineSize>
class Function<R(Args...), InlineSize> {
public:
    // An empty Function: operator bool() is false, and calling it is
    // undefined (there is no std::bad_function_call).
    Function() noexcept = default;
    // Also empty: `Function<void()> f = nullptr;`, as with std::function.
    Function(std::nullptr_t) noexcept {}  // NOLINT: like std::function

    // Keeps `callable` (moved in, or copied from an lvalue): inline when it
    // fits in InlineSize bytes, is aligned no more strictly than a pointer
    // and moves without throwing; otherwise on the heap, which may throw
    // std::bad_alloc.
    template <typename F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, Function> &&
                 std::is_invocable_v<std::decay_t<F>&, Args...> &&
                 (std::is_void_v<R> ||
                  std::is_convertible_v<std::invoke_result_t<std::decay_t<F>&, Args...>, R>))
    Function(F&& callable) {  // NOLINT: implicit, like std::function
        using Stored = std::decay_t<F>;
        if constexpr (kFitsInline<Stored>) {
            ::new (static_cast<void*>(storage_)) Stored(std::forward<F>(callable));
            ops_ = &kOps<Stored>;
        } else {
            using Box = Boxed<Stored>;
            ::new (static_cast<void*>(storage_))
                Box{std::make_unique<Stored>(std::forward<F>(callable))};
            ops_ = &kOps<Box>;
        }
    }

    // Takes the callable of `other`, which is left empty.
    Function(Function&& other) noexcept { take(other); }
    Function& operator=(Function&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    Function& operator=(std::nullptr_t) noexcept {
        reset();
        return *this;
    }
    ~Function() { reset(); }

    explicit operator bool() const noexcept { return ops_ != nullptr; }

    // Calls the callable; on an empty Function, undefined behaviour.
    R operator()(Args... args) {
        return ops_->call(static_cast<void*>(storage_), std::forward<Args>(args)...);
    }

private:
    static constexpr std::size_t kInlineSize = InlineSize;

    template <typename F>
    static constexpr bool kFitsInline =
        sizeof(F) <= kInlineSize &&
        alignof(F) <= alignof(void*) && std::is_nothrow_move_constructible_v<F>;

    // The heap home of a callable too big (or too fragile to move) to live inline.
    template <typename F>
    struct Boxed {
        std::unique_ptr<F> callable;
        decltype(auto) operator()(Args&&... args) {
            return std::invoke(*callable, std::forward<Args>(args)...);
        }
    };

    struct Ops {
        R (*call)(void* self, Args&&... args);
        void (*relocate)(void* to, void* from) noexcept;  // move, then destroy `from`
        void (*destroy)(void* self) noexcept;
    };

    template <typename F>
    static R call_stored(void* self, Args&&... args) {
        if constexpr (std::is_void_v<R>) {
            std::invoke(*static_cast<F*>(self), std::forward<Args>(args)...);
        } else {
            return std::invoke(*static_cast<F*>(self), std::forward<Args>(args)...);
        }
    }
    template <typename F>
    static void relocate_stored(void* to, void* from) noexcept {
        ::new (to) F(std::move(*static_cast<F*>(from)));
        static_cast<F*>(from)->~F();
    }
    template <typename F>
    static void destroy_stored(void* self) noexcept {
        static_cast<F*>(self)->~F();
    }
    template <typename F>
    static constexpr Ops kOps{&call_stored<F>, &relocate_stored<F>, &destroy_stored<F>};

    void take(Function& other) noexcept {
        if (other.ops_ == nullptr) return;
        other.ops_->relocate(static_cast<void*>(storage_), static_cast<void*>(other.storage_));
        ops_ = std::exchange(other.ops_, nullptr);
    }
    void reset() noexcept {
        if (ops_ != nullptr) std::exchange(ops_, nullptr)->destroy(static_cast<void*>(storage_));
    }

    alignas(void*) unsigned char storage_[kInlineSize];
    const Ops* ops_ = nullptr;
};

}  // namespace tornado
