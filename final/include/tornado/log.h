// tornado/log.h: the framework's log lines, in Tornado's format.
//
// Tornado logs through three named loggers, and so does the twin:
//
//   access_log  "tornado.access"       one line per HTTP request (log_request)
//   app_log     "tornado.application"  errors in application code: an exception
//                                      in a callback, a handler, a coroutine
//   gen_log     "tornado.general"      everything else: the loop, the network
//
// Every line looks like Tornado's LogFormatter output,
//
//   [I 261121 10:00:00 web:2243] 200 GET / (127.0.0.1) 0.52ms
//    │ │      │        │   │
//    │ │      │        │   └ line of the call
//    │ │      │        └ module: the source file's name without its extension
//    │ │      └ local time
//    │ └ date, yymmdd
//    └ level: D(ebug) I(nfo) W(arning) E(rror)
//
// written to stderr, the bracket coloured by level when stderr is a terminal.
// Messages take `{}` placeholders, filled in order from the arguments
// (anything with an operator<<; `{:.2f}` gives a number two decimals). A
// disabled level costs one comparison: nothing is formatted.
//
// Example:
//
//   tornado::app_log.info("Listening on {}:{}", address, port);
//   tornado::gen_log.warning("slow client {} took {:.2f}s", peer, seconds);
//   tornado::set_log_level(tornado::LogLevel::debug);   // --logging=debug
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <ostream>
#include <source_location>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

namespace tornado {

#if defined(__cpp_lib_source_location)
// Where a call was written: see the class below.
using SourceLocation = std::source_location;
#else
// Where a call was written, captured by a default argument
// (`SourceLocation where = SourceLocation::current()`), for log lines and
// the loop's reports. It is std::source_location where the standard library
// has it. libstdc++ 12 offers it only to compilers with a builtin that
// clang 14 lacks, so there it is this class: the same interface, built on
// the builtins both compilers have (__builtin_FILE and friends, which also
// take the caller's place when they are a default argument).
class SourceLocation {
public:
    // Call it with no argument: the defaults are the caller's file,
    // function and line.
    static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                            const char* function = __builtin_FUNCTION(),
                                            std::uint_least32_t line = __builtin_LINE()) noexcept {
        SourceLocation where;
        where.file_ = file;
        where.function_ = function;
        where.line_ = line;
        return where;
    }
    // The path as the compiler was given it: a string literal, so a view of
    // it never dangles ("" for a default-constructed location).
    constexpr const char* file_name() const noexcept { return file_; }
    // The calling function's name, also a string literal.
    constexpr const char* function_name() const noexcept { return function_; }
    constexpr std::uint_least32_t line() const noexcept { return line_; }
    // Always 0: GCC 12 has no __builtin_COLUMN, and this class keeps to the
    // builtins both compilers have.
    constexpr std::uint_least32_t column() const noexcept { return 0; }

private:
    const char* file_ = "";
    const char* function_ = "";
    std::uint_least32_t line_ = 0;
};
#endif

// Python's logging levels, with their numbers.
enum class LogLevel : int { debug = 10, info = 20, warning = 30, error = 40, none = 100 };

// "debug", "info", "warning", "error", "none" (any case) to a level; throws
// std::invalid_argument for anything else. For an option like --logging=.
LogLevel parse_log_level(std::string_view name);

// One message on its way out: its level; the logger's name
// ("tornado.access", ...); the module and line of the call (module: the
// source file's name without its folder and extensions, "web"); when it was
// emitted, read before waiting for the handler's lock; the formatted
// message. The views are valid only while the handler runs: a handler that
// keeps a record must copy them.
struct LogRecord {
    LogLevel level;
    std::string_view logger;
    std::string_view module;
    std::uint32_t line;
    std::chrono::system_clock::time_point time;
    std::string_view message;
};

// Where log lines go. The default handler writes format_log_record(record)
// to stderr in one write() (so lines from several threads never mix).
using LogHandler = std::function<void(const LogRecord&)>;
// Replaces the handler (an empty one restores the default); returns the old
// one (empty: the default). Tests use it to capture lines. The handler runs
// on the thread that logs, one line at a time under a lock: it must not log
// through these loggers nor call set_log_handler (the thread would deadlock
// on itself).
LogHandler set_log_handler(LogHandler handler);
// What the default handler does: the line, coloured when stderr is a
// terminal, to stderr. For a handler that keeps some lines and passes the
// others on (testing::ExpectLog).
void default_log_handler(const LogRecord& record);

// Log lines to the file `path`, rotated as Python's logging.handlers do for
// Tornado's `--log_file_prefix`: by size (`rotate` = size, RotatingFileHandler:
// when the next line would take the file to max_size bytes, PATH becomes
// PATH.1, PATH.1 becomes PATH.2, ... and PATH.<backups> is dropped) or by
// time (TimedRotatingFileHandler: every `interval` units of `when`, PATH is
// renamed PATH.<date> and the oldest beyond `backups` are deleted). `when`
// is "S", "M", "H", "D" (seconds, minutes, hours, days, counted from the
// file's last change when it already has lines, else from its opening),
// "midnight", or "W0" to "W6" (the midnight that ends Monday ... Sunday), in
// local time; case does not matter. `interval` must be 1 or more, and is
// ignored for midnight and W0-W6, as in Python. backups = 0 never renames.
struct LogFileOptions {
    enum class Rotate { size, time };
    std::string path;
    Rotate rotate = Rotate::size;
    std::uint64_t max_size = 100 * 1000 * 1000;  // 0: never by size
    int backups = 10;
    std::string when = "midnight";
    int interval = 1;
};
// A LogHandler that appends each line, without colour, to options.path (in
// one write(2), as the default handler does), rotating as above by each
// line's time. Throws std::system_error naming the file if it cannot be
// opened, std::invalid_argument for a `when` it does not know or an
// `interval` below 1 (with rotate = time). A write or rename that fails
// later drops the line rather than throw into a log call.
LogHandler make_file_log_handler(const LogFileOptions& options);

// The level of every logger that has none of its own (default: info). Any
// thread may call it; the loggers read it at each call.
void set_log_level(LogLevel level);
// The level set_log_level() set last (info until then).
LogLevel log_level();

// Forces colour on or off (default: on when stderr is a terminal and TERM is
// not "dumb").
void set_log_color(bool enabled);

// `[I 261121 10:00:00 web:2243] message`, with the colour codes when `color`,
// continuation lines indented by four spaces (as Tornado does), no newline.
std::string format_log_record(const LogRecord& record, bool color = false);

// "std::runtime_error: what it said" for an exception, for log lines;
// "no exception" when there is none (a handler may log without one).
std::string describe_exception(std::exception_ptr error);

// What an exception said, without its type ("" for no exception): for a
// message that wraps another, such as "Stream is closed: Connection reset".
std::string exception_message(std::exception_ptr error);

namespace detail {

// One argument of a log call, type-erased so that formatting lives in log.cpp.
struct FormatArg {
    const void* value;
    void (*append)(std::string& out, const void* value, std::string_view spec);
};

void append_arg(std::string& out, std::string_view text, std::string_view spec);
void append_arg(std::string& out, long long number, std::string_view spec);
void append_arg(std::string& out, unsigned long long number, std::string_view spec);
void append_arg(std::string& out, double number, std::string_view spec);
void append_arg(std::string& out, bool flag, std::string_view spec);
void append_arg(std::string& out, char letter, std::string_view spec);
void append_arg(std::string& out, const void* pointer, std::string_view spec);

template <typename T>
void append_any(std::string& out, const void* value, std::string_view spec) {
    const T& arg = *static_cast<const T*>(value);
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, char>) {
        append_arg(out, arg, spec);
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        append_arg(out, std::string_view(arg), spec);
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
        append_arg(out, static_cast<long long>(arg), spec);
    } else if constexpr (std::is_integral_v<T>) {
        append_arg(out, static_cast<unsigned long long>(arg), spec);
    } else if constexpr (std::is_floating_point_v<T>) {
        append_arg(out, static_cast<double>(arg), spec);
    } else if constexpr (std::is_enum_v<T>) {
        append_arg(out, static_cast<long long>(arg), spec);
    } else if constexpr (std::is_pointer_v<T>) {
        append_arg(out, static_cast<const void*>(arg), spec);
    } else {
        std::ostringstream stream;
        stream << arg;
        append_arg(out, std::string_view(stream.str()), spec);
    }
}

// Fills `{}` / `{:spec}` in `format` from `args` in order; `{{` and `}}` are
// literal braces; placeholders beyond the arguments stay as written.
std::string vformat(std::string_view text, const FormatArg* args, std::size_t count);

}  // namespace detail

// Formats like a log message, for code that wants the same `{}` style.
template <typename... Args>
std::string format(std::string_view text, const Args&... args) {
    if constexpr (sizeof...(Args) == 0) {
        return detail::vformat(text, nullptr, 0);
    } else {
        const detail::FormatArg packed[] = {{&args, &detail::append_any<Args>}...};
        return detail::vformat(text, packed, sizeof...(Args));
    }
}

// A message format plus where it was written: the call site's file and line
// are captured by the default argument, so `log.info("x")` knows its line.
struct LogFormat {
    template <typename S>
        requires(std::convertible_to<const S&, std::string_view>)
    LogFormat(const S& format_text,  // NOLINT: implicit on purpose
              SourceLocation call_site = SourceLocation::current())
        : text(format_text), where(call_site) {}

    std::string_view text;
    SourceLocation where;
};

// A named logger (access_log, app_log, gen_log). Cheap to ask: a disabled
// level returns before formatting anything.
class Logger {
public:
    constexpr explicit Logger(const char* name) noexcept : name_(name) {}
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    const char* name() const noexcept { return name_; }

    // This logger's own level; LogLevel{0} (the default) follows set_log_level.
    void set_level(LogLevel level) noexcept { level_.store(static_cast<int>(level)); }
    // What set_level() stored: LogLevel{0} while it follows set_log_level.
    LogLevel own_level() const noexcept { return static_cast<LogLevel>(level_.load()); }
    // The level in force: its own, or set_log_level's.
    LogLevel level() const noexcept;
    // Whether a message at `level` would be written (level() or above): a
    // caller can skip computing costly arguments when it is not.
    bool enabled(LogLevel level) const noexcept {
        return static_cast<int>(level) >= static_cast<int>(this->level());
    }

    // Writes `message` with its placeholders filled from `args` (as
    // format()), when `level` is enabled; otherwise nothing is formatted.
    // Any thread may log; a line is never mixed with another.
    template <typename... Args>
    void log(LogLevel level, LogFormat message, const Args&... args) const {
        if (!enabled(level)) return;
        emit(level, message.where, tornado::format(message.text, args...));
    }
    // log() at LogLevel::debug; info(), warning() and error() below do the
    // same at their levels.
    template <typename... Args>
    void debug(LogFormat message, const Args&... args) const {
        log(LogLevel::debug, message, args...);
    }
    template <typename... Args>
    void info(LogFormat message, const Args&... args) const {
        log(LogLevel::info, message, args...);
    }
    template <typename... Args>
    void warning(LogFormat message, const Args&... args) const {
        log(LogLevel::warning, message, args...);
    }
    template <typename... Args>
    void error(LogFormat message, const Args&... args) const {
        log(LogLevel::error, message, args...);
    }

    // Sends an already formatted message (no placeholders are read).
    void emit(LogLevel level, SourceLocation where, std::string_view message) const;

private:
    const char* name_;
    std::atomic<int> level_{0};
};

// "tornado.access": one line per HTTP request (log_request). The three
// loggers are made at compile time (constinit), so code that runs during
// static initialization, in any file, may log.
extern Logger access_log;
// "tornado.application": errors in application code.
extern Logger app_log;
// "tornado.general": everything else (the loop, the network).
extern Logger gen_log;

// The level of a request's access-log line: info below 400, warning below
// 500, error from 500 up.
LogLevel access_log_level(int status) noexcept;

// The access-log line of one request, as Tornado's Application.log_request
// writes it: `200 GET /path?x=1 (127.0.0.1) 0.52ms`, at access_log_level.
void log_request(int status, std::string_view method, std::string_view uri,
                 std::string_view remote_ip, double request_time_seconds,
                 SourceLocation where = SourceLocation::current());

}  // namespace tornado
