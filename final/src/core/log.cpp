// log.cpp: see tornado/log.h for the contract and the line format.
//
// Any thread may log. What they share is guarded in two ways: the levels
// and the colour switch are atomics (read on every call, so no lock on the
// fast path that decides a line is not wanted), and the handler sits behind
// one mutex, held while a line is written, so lines never interleave.
#include "tornado/log.h"

#include <cxxabi.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <typeinfo>
#include <utility>

#include "core/text.h"

namespace tornado {

// constinit: made at compile time, so a static initializer in another
// file may log before this file's dynamic initialization has run.
constinit Logger access_log("tornado.access");
constinit Logger app_log("tornado.application");
constinit Logger gen_log("tornado.general");

namespace {

// Python's root logger level, which Tornado's loggers inherit: info unless
// --logging or set_log_level says otherwise.
std::atomic<int> g_root_level{static_cast<int>(LogLevel::info)};

// -1: not decided yet; 0: plain; 1: coloured.
std::atomic<int> g_color{-1};

// The handler, and a lock that also keeps lines whole when several threads
// log at once. Function-local so that logging from a static initializer in
// another file still finds them built.
//
// The handler runs with the mutex held. So a handler must not log through
// these loggers, nor call set_log_handler: std::mutex is not recursive, and
// the thread would deadlock on itself.
struct Output {
    std::mutex mutex;
    LogHandler handler;
};
Output& output() {
    static Output instance;
    return instance;
}

// Tornado's _stderr_supports_color, without curses: a terminal, and one
// that is not "dumb" (Emacs's shell buffers set TERM=dumb).
bool stderr_wants_color() {
    if (::isatty(STDERR_FILENO) == 0) return false;
    const char* term = std::getenv("TERM");
    return term != nullptr && std::strcmp(term, "dumb") != 0;
}

// Decided lazily, on the first coloured-or-not question, so nothing runs at
// static initialization; set_log_color() overrides it at any time. Two
// threads may both decide at once; they reach the same answer, so the race
// is harmless and relaxed ordering is enough.
bool color_enabled() {
    int color = g_color.load(std::memory_order_relaxed);
    if (color < 0) {
        color = stderr_wants_color() ? 1 : 0;
        g_color.store(color, std::memory_order_relaxed);
    }
    return color == 1;
}

char level_letter(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return 'D';
        case LogLevel::info: return 'I';
        case LogLevel::warning: return 'W';
        case LogLevel::error: return 'E';
        case LogLevel::none: break;
    }
    return '?';
}

// Tornado's colours (curses setaf numbers): blue, green, yellow, red. The
// "2;" (faint) is ours: Tornado's lines use the plain colours.
const char* level_color(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return "\033[2;34m";
        case LogLevel::info: return "\033[2;32m";
        case LogLevel::warning: return "\033[2;33m";
        case LogLevel::error: return "\033[2;31m";
        case LogLevel::none: break;
    }
    return "";
}

// "/work/final/src/web/web.cpp" -> "web", like Python's %(module)s. Cut at the
// first dot, so "a.test.cpp" gives "a". A view into the path, which
// SourceLocation keeps in static storage, so it never dangles.
std::string_view module_of(std::string_view path) {
    std::size_t slash = path.find_last_of('/');
    if (slash != std::string_view::npos) path.remove_prefix(slash + 1);
    std::size_t dot = path.find('.');
    if (dot != std::string_view::npos) path = path.substr(0, dot);
    return path;
}

// "261121 10:00:00" for `time` (Tornado's datefmt "%y%m%d %H:%M:%S", local
// time). localtime_r is slow-ish (it consults the time zone), and a busy
// server logs many lines a second: so each thread remembers the last second
// it formatted. thread_local rather than guarded by the output mutex:
// format_log_record is public and may be called without that lock.
void append_timestamp(std::string& out, std::chrono::system_clock::time_point time) {
    thread_local std::time_t cached_second = -1;
    thread_local char cached_text[32] = {};
    std::time_t second = std::chrono::system_clock::to_time_t(time);
    if (second != cached_second) {
        std::tm local{};
        ::localtime_r(&second, &local);
        std::strftime(cached_text, sizeof cached_text, "%y%m%d %H:%M:%S", &local);
        cached_second = second;
    }
    out += cached_text;
}

// The "{:.Nf}" precision, or -1 for any other spec (which is then ignored:
// this is the only format spec the `{}` formatter knows). Clamped to 0..17
// so that "{:.999f}" cannot ask for a huge output.
int fixed_precision(std::string_view spec) {
    if (spec.size() < 3 || spec.front() != '.' || spec.back() != 'f') return -1;
    int precision = 0;
    auto [end, error] = std::from_chars(spec.data() + 1, spec.data() + spec.size() - 1, precision);
    if (error != std::errc() || end != spec.data() + spec.size() - 1) return -1;
    return std::clamp(precision, 0, 17);
}

}  // namespace

// Called with the output mutex held. The whole line goes out in one
// write(2), straight to the file descriptor: no stdio buffer that could
// hold a line back or split it, and the loop retries after EINTR or a
// short write. Any other error (EAGAIN on a non-blocking stderr, a closed
// stderr) drops the rest of the line silently.
void default_log_handler(const LogRecord& record) {
    std::string line = format_log_record(record, color_enabled());
    line += '\n';
    std::string_view rest = line;
    while (!rest.empty()) {
        ssize_t written = ::write(STDERR_FILENO, rest.data(), rest.size());
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;  // stderr is gone: nowhere to complain
        rest.remove_prefix(static_cast<std::size_t>(written));
    }
}

// Python's level names, plus "none" (Tornado's --logging=none).
LogLevel parse_log_level(std::string_view name) {
    std::string lower = detail::lower_ascii(name);
    if (lower == "debug") return LogLevel::debug;
    if (lower == "info") return LogLevel::info;
    if (lower == "warning") return LogLevel::warning;
    if (lower == "error") return LogLevel::error;
    if (lower == "none") return LogLevel::none;
    throw std::invalid_argument("unknown log level: " + std::string(name));
}

LogHandler set_log_handler(LogHandler handler) {
    Output& out = output();
    std::lock_guard lock(out.mutex);
    return std::exchange(out.handler, std::move(handler));
}

void set_log_level(LogLevel level) { g_root_level.store(static_cast<int>(level)); }

LogLevel log_level() { return static_cast<LogLevel>(g_root_level.load(std::memory_order_relaxed)); }

void set_log_color(bool enabled) { g_color.store(enabled ? 1 : 0); }

// 0 is "not set": the logger follows the root level, as a Python logger
// with level NOTSET defers to its parent.
LogLevel Logger::level() const noexcept {
    int own = level_.load(std::memory_order_relaxed);
    return own != 0 ? static_cast<LogLevel>(own) : log_level();
}

std::string format_log_record(const LogRecord& record, bool color) {
    std::string out;
    out.reserve(48 + record.message.size());
    if (color) out += level_color(record.level);
    out += '[';
    out += level_letter(record.level);
    out += ' ';
    append_timestamp(out, record.time);
    out += ' ';
    out += record.module;
    out += ':';
    char digits[16];
    auto [end, error] = std::to_chars(digits, digits + sizeof digits, record.line);
    out.append(digits, end);
    out += ']';
    if (color) out += "\033[0m";
    out += ' ';
    // Tornado indents every line after the first, so that a traceback (here:
    // a multi-line message) stays visibly one record.
    std::string_view message = record.message;
    // A trailing newline would leave an indented blank line behind.
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.remove_suffix(1);
    }
    for (char c : message) {
        out += c;
        if (c == '\n') out += "    ";
    }
    return out;
}

// What a thrown value that is not a std::exception is called: it has no what().
// (`throw 42;` is legal C++, and a callback may do it.)
constexpr const char* kUnknownException = "unknown exception (not derived from std::exception)";

// The dynamic type's name, demangled ("tornado::HTTPError", not
// "N7tornado9HTTPErrorE"), stands in for Python's traceback header: we
// have no stack to show, but the type often says most of what went wrong.
std::string describe_exception(std::exception_ptr error) {
    if (!error) return "no exception";
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        int status = 0;
        const char* mangled = typeid(e).name();
        char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
        std::string name = (status == 0 && demangled != nullptr) ? demangled : mangled;
        std::free(demangled);  // allocated by __cxa_demangle with malloc
        return name + ": " + e.what();
    } catch (...) {
        return kUnknownException;
    }
}

std::string exception_message(std::exception_ptr error) {
    if (!error) return "";
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return kUnknownException;
    }
}

// The time is taken before the lock, so it is when the event happened,
// not when the line got its turn; under contention, lines from different
// threads may thus appear slightly out of time order.
void Logger::emit(LogLevel level, SourceLocation where, std::string_view message) const {
    LogRecord record{
        .level = level,
        .logger = name_,
        .module = module_of(where.file_name()),
        .line = where.line(),
        .time = std::chrono::system_clock::now(),
        .message = message,
    };
    Output& out = output();
    std::lock_guard lock(out.mutex);
    if (out.handler) {
        out.handler(record);
    } else {
        default_log_handler(record);
    }
}

LogLevel access_log_level(int status) noexcept {
    return status < 400 ? LogLevel::info : status < 500 ? LogLevel::warning : LogLevel::error;
}

void log_request(int status, std::string_view method, std::string_view uri,
                 std::string_view remote_ip, double request_time_seconds, SourceLocation where) {
    LogLevel level = access_log_level(status);
    // Checked here because the line is formatted before emit(): a server
    // with access logging off must not pay for the formatting.
    if (!access_log.enabled(level)) return;
    std::string line = tornado::format("{} {} {} ({}) {:.2f}ms", status, method, uri, remote_ip,
                                       request_time_seconds * 1000.0);
    access_log.emit(level, where, line);
}

// --- formatting --------------------------------------------------------------

namespace detail {

// The append_arg overloads are what append_any (log.h) falls back on: one
// per kind of value, so the templates in the header stay small and the
// work is compiled once, here. Only the double overload reads a spec.
void append_arg(std::string& out, std::string_view text, std::string_view) { out += text; }

void append_arg(std::string& out, long long number, std::string_view) {
    char digits[24];
    auto [end, error] = std::to_chars(digits, digits + sizeof digits, number);
    out.append(digits, end);
}

void append_arg(std::string& out, unsigned long long number, std::string_view) {
    char digits[24];
    auto [end, error] = std::to_chars(digits, digits + sizeof digits, number);
    out.append(digits, end);
}

void append_arg(std::string& out, double number, std::string_view spec) {
    char digits[64];
    int precision = fixed_precision(spec);
    auto [end, error] = precision >= 0 ? std::to_chars(digits, digits + sizeof digits, number,
                                                       std::chars_format::fixed, precision)
                                       : std::to_chars(digits, digits + sizeof digits, number);
    // Too long for the buffer: a huge number in fixed notation ("{:.2f}"
    // of 1e300). A placeholder is better than a truncated number.
    if (error != std::errc()) {
        out += "(number)";
        return;
    }
    out.append(digits, end);
}

void append_arg(std::string& out, bool flag, std::string_view) { out += flag ? "true" : "false"; }

void append_arg(std::string& out, char letter, std::string_view) { out += letter; }

void append_arg(std::string& out, const void* pointer, std::string_view) {
    if (pointer == nullptr) {
        out += "nullptr";
        return;
    }
    char digits[24] = "0x";
    auto [end, error] = std::to_chars(digits + 2, digits + sizeof digits,
                                      reinterpret_cast<std::uintptr_t>(pointer), 16);
    out.append(digits, end);
}

// A small subset of std::format (which libstdc++ 12 does not have): `{}` and
// `{:spec}` in order, `{{` and `}}` for literal braces. Anything else inside
// the braces (an index, "{0}", even "{0:.2f}") is ignored: arguments are
// always used in order. Never throws on a bad format: log calls must not
// fail. An unclosed '{' copies the rest of the text as it is.
std::string vformat(std::string_view text, const FormatArg* args, std::size_t count) {
    std::string out;
    out.reserve(text.size() + 16 * count);
    std::size_t next_arg = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
            out += '{';
            ++i;
        } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
            out += '}';
            ++i;
        } else if (c == '{' && next_arg < count) {
            std::size_t close = text.find('}', i);
            if (close == std::string_view::npos) {
                out.append(text.substr(i));
                break;
            }
            std::string_view inside = text.substr(i + 1, close - i - 1);
            std::string_view spec;
            if (!inside.empty() && inside.front() == ':') spec = inside.substr(1);
            args[next_arg].append(out, args[next_arg].value, spec);
            ++next_arg;
            i = close;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace detail

}  // namespace tornado
