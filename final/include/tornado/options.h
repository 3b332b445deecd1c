// tornado/options.h: command-line options that any file of a program can
// define (Tornado's tornado.options).
//
// Each file defines the options it needs, at namespace scope, and keeps the
// handle define() returns; main() parses the command line once; every file
// then reads its own options through its handles:
//
//   // server.cpp
//   static auto& port = tornado::define("port", 8888, "run on the given port");
//   static auto& debug = tornado::define("debug", false, "reload on change, show tracebacks");
//
//   // db.cpp
//   static auto& db_hosts = tornado::define<std::vector<std::string>>(
//       "db_hosts", {"127.0.0.1:5432"}, {.help = "database servers", .metavar = "HOST:PORT,..."});
//
//   // main.cpp
//   int main(int argc, char** argv) {
//       std::vector<std::string> files = tornado::parse_command_line(argc, argv);
//       app.listen(*port);                  // Tornado: options.port
//   }
//
//   $ server --port=8000 --db-hosts=a:5432,b:5432 --debug --logging=debug
//
// Options can also be read by name, as Tornado's options["port"] does:
// tornado::options().get<int>("port").
//
// The types an option may have: bool; any integer type; double (any
// floating-point type); std::string; std::chrono durations; and
// std::vector of any of those, which is Tornado's multiple=True (the value
// is given comma-separated, and for integers `lo:hi` stands for the whole
// range, both ends included).
//
// Syntax, as in Tornado: `--name=value`; a bare `--name` sets a bool option
// to true; `-` and `_` are the same in names (`--log-to-stderr` is
// `log_to_stderr`); the first argument that does not start with `-`, or
// everything after `--`, is positional and returned. `--name value` is NOT
// accepted (the error says so). `--help` prints the options, grouped by the
// file that defined them, to stdout and exits 0.
//
// Differences from Tornado, each on purpose:
//   - bool values must be true/false, yes/no, on/off, t/f, y/n or 1/0 (any
//     case); Tornado takes anything that is not false/0/f as true;
//   - config files are `name = value` lines, not Python (see
//     parse_config_file), and an unknown name in one is an error;
//   - an option has no None: its default is a value of its type (an empty
//     string, an empty list), and is_set() says whether it was given;
//   - --help goes to stdout (Tornado: stderr), and a bad command line does
//     not print the whole help, just what is wrong;
//   - durations take "1h30m" as well as Tornado's "1h 30m", and "ns".
//
// Not thread-safe: define at start-up (static initialisation is fine), parse
// in main(), then only read.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <ratio>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/log.h"  // SourceLocation

namespace tornado {

// Something is wrong with an option: an unknown name, a value that is not of
// the option's type, a second definition. Tornado's tornado.options.Error.
class OptionsError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

// How values of one type are read from text and written back. A type with no
// OptionType cannot be an option's type.
template <typename T>
struct OptionType;

// Parsers shared by the OptionType specialisations (options.cpp). Each throws
// std::invalid_argument with a sentence about `text` when it cannot read it.
bool parse_bool(std::string_view text);
long long parse_signed(std::string_view text, long long min, long long max,
                       std::string_view type_name);
unsigned long long parse_unsigned(std::string_view text, unsigned long long max,
                                  std::string_view type_name);
double parse_double(std::string_view text);
// Tornado's timedelta syntax: numbers with units, summed ("1h 30m", "2.5s",
// "100ms"); a number alone is seconds.
std::chrono::duration<double> parse_duration(std::string_view text);
std::string format_double(double value);

template <>
struct OptionType<bool> {
    static constexpr std::string_view name = "bool";
    static bool parse(std::string_view text) { return parse_bool(text); }
    static std::string format(bool value) { return value ? "true" : "false"; }
};

template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
struct OptionType<T> {
    static constexpr std::string_view name = std::is_same_v<T, int>         ? "int"
                                             : std::is_same_v<T, long>      ? "long"
                                             : std::is_same_v<T, long long> ? "long long"
                                             : std::is_signed_v<T>          ? "signed integer"
                                                                            : "unsigned integer";
    static T parse(std::string_view text) {
        if constexpr (std::is_signed_v<T>) {
            return static_cast<T>(parse_signed(text, std::numeric_limits<T>::min(),
                                               std::numeric_limits<T>::max(), name));
        } else {
            return static_cast<T>(parse_unsigned(text, std::numeric_limits<T>::max(), name));
        }
    }
    static std::string format(T value) { return std::to_string(value); }
};

template <std::floating_point T>
struct OptionType<T> {
    static constexpr std::string_view name = "double";
    static T parse(std::string_view text) { return static_cast<T>(parse_double(text)); }
    static std::string format(T value) { return format_double(static_cast<double>(value)); }
};

template <>
struct OptionType<std::string> {
    static constexpr std::string_view name = "string";
    static std::string parse(std::string_view text) { return std::string(text); }
    static std::string format(const std::string& value) { return value; }
};

// The unit a duration type is written in: "ms" for std::chrono::milliseconds.
template <typename Period>
constexpr std::string_view duration_suffix() {
    if constexpr (std::is_same_v<Period, std::nano>)
        return "ns";
    else if constexpr (std::is_same_v<Period, std::micro>)
        return "us";
    else if constexpr (std::is_same_v<Period, std::milli>)
        return "ms";
    else if constexpr (std::is_same_v<Period, std::ratio<1>>)
        return "s";
    else if constexpr (std::is_same_v<Period, std::ratio<60>>)
        return "min";
    else if constexpr (std::is_same_v<Period, std::ratio<3600>>)
        return "h";
    else if constexpr (std::is_same_v<Period, std::ratio<86400>>)
        return "d";
    else if constexpr (std::is_same_v<Period, std::ratio<604800>>)
        return "w";
    else
        return "";  // written as seconds
}

template <typename Rep, typename Period>
struct OptionType<std::chrono::duration<Rep, Period>> {
    using Duration = std::chrono::duration<Rep, Period>;
    static constexpr std::string_view name = "duration";

    static Duration parse(std::string_view text) {
        std::chrono::duration<double> seconds = parse_duration(text);
        std::chrono::duration<double, Period> in_unit = seconds;
        if constexpr (std::is_floating_point_v<Rep>) {
            return std::chrono::duration_cast<Duration>(in_unit);
        } else {
            double count = in_unit.count();
            // max() + 1.0 is a power of two, exact as a double even for 64 bits.
            if (!(count >= static_cast<double>(std::numeric_limits<Rep>::min()) &&
                  count < static_cast<double>(std::numeric_limits<Rep>::max()) + 1.0)) {
                throw std::invalid_argument("'" + std::string(text) +
                                            "' is out of range for this duration");
            }
            double whole = std::round(count);
            if (std::abs(count - whole) > 1e-6 * std::max(1.0, std::abs(count))) {
                throw std::invalid_argument("'" + std::string(text) +
                                            "' is finer than this option's unit (" +
                                            std::string(unit_name()) + ")");
            }
            return Duration(static_cast<Rep>(whole));
        }
    }
    static std::string format(Duration value) {
        constexpr std::string_view suffix = duration_suffix<Period>();
        if constexpr (!suffix.empty() && std::is_integral_v<Rep>) {
            return std::to_string(value.count()) + std::string(suffix);
        } else {
            return format_double(std::chrono::duration<double>(value).count()) + "s";
        }
    }

private:
    static std::string_view unit_name() {
        constexpr std::string_view suffix = duration_suffix<Period>();
        return suffix.empty() ? std::string_view("its own unit") : suffix;
    }
};

// multiple=True: comma-separated items.
template <typename T>
struct OptionType<std::vector<T>> {
    static constexpr std::string_view name = "list";
    using Item = OptionType<T>;
    static constexpr std::size_t kMaxRange = 1'000'000;  // `1:1000000000` would eat the memory

    static std::vector<T> parse(std::string_view text) {
        std::vector<T> items;
        while (true) {
            std::size_t comma = text.find(',');
            append_item(items, text.substr(0, comma));
            if (comma == std::string_view::npos) return items;
            text.remove_prefix(comma + 1);
        }
    }
    static std::vector<T> parse_items(const std::vector<std::string>& texts) {
        std::vector<T> items;
        for (const std::string& text : texts) append_item(items, text);
        return items;
    }
    static std::string format(const std::vector<T>& values) {
        std::string out;
        for (const T& value : values) {
            if (!out.empty()) out += ',';
            out += Item::format(value);
        }
        return out;
    }

private:
    static void append_item(std::vector<T>& items, std::string_view text) {
        std::size_t colon = text.find(':');
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            if (colon != std::string_view::npos) {  // lo:hi, both included
                T low = Item::parse(text.substr(0, colon));
                T high = Item::parse(text.substr(colon + 1));
                if (high < low) {
                    throw std::invalid_argument("the range '" + std::string(text) +
                                                "' ends before it starts");
                }
                if (static_cast<unsigned long long>(high) - static_cast<unsigned long long>(low) >=
                    kMaxRange) {
                    throw std::invalid_argument("the range '" + std::string(text) +
                                                "' has more than " + std::to_string(kMaxRange) +
                                                " values");
                }
                for (T value = low;; ++value) {
                    items.push_back(value);
                    if (value == high) break;
                }
                return;
            }
        }
        items.push_back(Item::parse(text));
    }
};

// What define() stores for a default of type T: a string literal becomes
// std::string.
template <typename T>
struct StoredType {
    using type = T;
};
template <>
struct StoredType<const char*> {
    using type = std::string;
};
template <>
struct StoredType<char*> {
    using type = std::string;
};
template <>
struct StoredType<std::string_view> {
    using type = std::string;
};

template <typename T>
concept HasOptionType = requires {
    OptionType<T>::name;
};

template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};

// "int", "list of string": for messages.
template <typename T>
std::string type_description() {
    if constexpr (IsVector<T>::value) {
        return "list of " + std::string(OptionType<typename T::value_type>::name);
    } else {
        return std::string(OptionType<T>::name);
    }
}

}  // namespace detail

// The type an option holds when its default is a T.
template <typename T>
using option_type_t = typename detail::StoredType<std::decay_t<T>>::type;

// Tornado's keyword arguments of define(): the help text, the name of the
// value in the help (`--port=PORT`; empty: `--port` alone), the help group
// (empty: the file that defines the option), and a function called with
// each new value (if it throws, the value is refused: see Option::set).
// (The `= {}` lets designated initializers leave members out without a
// -Wmissing-field-initializers warning.)
template <typename T>
struct OptionSpec {
    std::string help = {};
    std::string metavar = {};
    std::string group = {};
    std::function<void(const T&)> callback = {};
};

// One defined option, whatever its type: what the parser and the help need.
class OptionBase {
public:
    virtual ~OptionBase() = default;
    OptionBase(const OptionBase&) = delete;
    OptionBase& operator=(const OptionBase&) = delete;

    // The name as define() was given it, '_' or '-' as written (lookups
    // take them as the same; `--help` shows '-').
    const std::string& name() const noexcept { return name_; }
    const std::string& help() const noexcept { return help_; }
    const std::string& metavar() const noexcept { return metavar_; }
    // The help group: OptionSpec::group, or else file_name().
    const std::string& group_name() const noexcept { return group_; }
    // The source file of the define() call, as the compiler names it ("" for
    // `--help`, which every parser defines itself).
    const std::string& file_name() const noexcept { return file_; }
    // Whether a parse or set() has given it a value (else it holds its default).
    bool is_set() const noexcept { return set_; }

    // "bool", "int", "double", "string", "duration", "list of int"...: for
    // messages and the help.
    virtual std::string type_name() const = 0;
    // Whether it holds a std::vector (Tornado's multiple=True).
    virtual bool multiple() const = 0;
    // A bare --name means --name=true.
    virtual bool is_flag() const = 0;
    // The value as text in the command-line syntax: a list comma-separated,
    // a duration with its unit ("100ms"), a floating-point number in the
    // fewest digits that read back as the same double. For as_dict().
    virtual std::string value_string() const = 0;
    // The default, written the same way (the help's "(default ...)").
    virtual std::string default_string() const = 0;

    // Sets the value from text in the command-line syntax, then calls the
    // callback. Throws OptionsError ("Option 'port': cannot read 'x' as
    // int") when the text is not of the type; what the callback throws goes
    // on as it is. Either way the old value is kept.
    virtual void parse(std::string_view text) = 0;
    // A list from a config file, item by item; OptionsError for an option
    // that is not multiple().
    virtual void parse_items(const std::vector<std::string>& texts) = 0;

protected:
    OptionBase(std::string name, std::string help, std::string metavar, std::string group,
               std::string file)
        : name_(std::move(name)),
          help_(std::move(help)),
          metavar_(std::move(metavar)),
          group_(std::move(group)),
          file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& what) const;

    bool set_ = false;

private:
    std::string name_;
    std::string help_;
    std::string metavar_;
    std::string group_;
    std::string file_;
};

// An option holding a T: the handle define() returns.
template <typename T>
class Option final : public OptionBase {
    using Type = detail::OptionType<T>;

public:
    Option(std::string name, T default_value, OptionSpec<T> spec, std::string file)
        : OptionBase(std::move(name), std::move(spec.help), std::move(spec.metavar),
                     spec.group.empty() ? file : std::move(spec.group), file),
          default_(default_value),
          value_(std::move(default_value)),
          callback_(std::move(spec.callback)) {}

    const T& value() const noexcept { return value_; }
    const T& operator*() const noexcept { return value_; }
    const T* operator->() const noexcept { return &value_; }
    const T& default_value() const noexcept { return default_; }

    // Tornado's `options.name = value`: sets it and calls the callback. If
    // the callback throws, the old value is put back and the exception goes
    // on.
    void set(T value) {
        T previous = std::exchange(value_, std::move(value));
        bool was_set = std::exchange(set_, true);
        if (!callback_) return;
        try {
            callback_(value_);
        } catch (...) {
            value_ = std::move(previous);
            set_ = was_set;
            throw;
        }
    }

    std::string type_name() const override { return detail::type_description<T>(); }
    bool multiple() const override { return multiple_type; }
    bool is_flag() const override {
        if constexpr (multiple_type) {
            return std::is_same_v<typename T::value_type, bool>;
        } else {
            return std::is_same_v<T, bool>;
        }
    }
    std::string value_string() const override { return Type::format(value_); }
    std::string default_string() const override { return Type::format(default_); }

    void parse(std::string_view text) override {
        T parsed;
        try {
            parsed = Type::parse(text);
        } catch (const std::invalid_argument& error) {
            fail(error.what());
        }
        set(std::move(parsed));
    }

    void parse_items(const std::vector<std::string>& texts) override {
        if constexpr (multiple_type) {
            T parsed;
            try {
                parsed = Type::parse_items(texts);
            } catch (const std::invalid_argument& error) {
                fail(error.what());
            }
            set(std::move(parsed));
        } else {
            fail("a list was given, but the option holds one " + std::string(Type::name));
        }
    }

private:
    static constexpr bool multiple_type = detail::IsVector<T>::value;

    T default_;
    T value_;
    std::function<void(const T&)> callback_;
};

// A set of options: Tornado's OptionParser. The program's own is options();
// make others for subcommands, or in tests.
class OptionParser {
public:
    // Defines --help (which prints print_help() to stdout and exits 0).
    OptionParser();
    OptionParser(const OptionParser&) = delete;
    OptionParser& operator=(const OptionParser&) = delete;

    // Defines an option; its type is the default's (a string literal gives
    // std::string), or give it: define<std::vector<int>>("ports", {80, 443}).
    // The group defaults to the file of the call. Throws OptionsError if the
    // name (with '-' and '_' the same) is taken, or if a command line could
    // not name it (empty, starting with '-', holding '=' or whitespace). The
    // handle lives as long as the parser.
    template <typename T>
    Option<option_type_t<T>>& define(std::string_view name, T default_value,
                                     OptionSpec<option_type_t<T>> spec = {},
                                     SourceLocation where = SourceLocation::current()) {
        using Stored = option_type_t<T>;
        static_assert(detail::HasOptionType<Stored>,
                      "an option is a bool, an integer, a floating-point number, a std::string, "
                      "a std::chrono::duration, or a std::vector of one of those");
        check_new_name(name);
        auto option =
            std::make_unique<Option<Stored>>(std::string(name), Stored(std::move(default_value)),
                                             std::move(spec), where.file_name());
        Option<Stored>& handle = *option;
        add(std::move(option));
        return handle;
    }
    // The same with a help text only: define("port", 8888, "run on the given
    // port").
    template <typename T>
    Option<option_type_t<T>>& define(std::string_view name, T default_value, std::string_view help,
                                     SourceLocation where = SourceLocation::current()) {
        OptionSpec<option_type_t<T>> spec;
        spec.help = std::string(help);
        return define(name, std::move(default_value), std::move(spec), where);
    }

    // Reads `--name=value` arguments (argv[0] is the program's name) and
    // returns the positional ones. With `final`, then runs the parse
    // callbacks. Throws OptionsError on an unknown option or a bad value;
    // the options read before it keep their new values, as in Tornado.
    std::vector<std::string> parse_command_line(int argc, const char* const argv[],
                                                bool final = true);
    std::vector<std::string> parse_command_line(const std::vector<std::string>& args,
                                                bool final = true);

    // Reads a config file of `name = value` lines:
    //
    //   # the server
    //   port = 8000                    # numbers, bools, durations bare
    //   name = "Tornado # 1"           # strings bare or quoted ("..." or '...')
    //   hosts = ["a:11011", "b:11011"] # a list (may span lines), or "a:11011,b:11011"
    //   debug = True
    //
    // Values are read as on the command line. Throws OptionsError naming the
    // file and line for a syntax error, an unknown name or a bad value;
    // nothing is set unless the whole file reads. With `final`, then runs the
    // parse callbacks.
    void parse_config_file(const std::string& path, bool final = true);

    // Usage, then each group's options sorted by name, Tornado's layout.
    void print_help(std::ostream& out) const;

    // Called after each final parse (Tornado's add_parse_callback).
    void add_parse_callback(std::function<void()> callback);
    // Runs the parse callbacks in the order they were added, as a final
    // parse does. One that throws stops the rest, and the exception reaches
    // the caller.
    void run_parse_callbacks();

    // Whether an option is called `name` ('-' and '_' the same).
    bool contains(std::string_view name) const;
    // The option called `name`; throws OptionsError if there is none.
    OptionBase& option(std::string_view name);
    const OptionBase& option(std::string_view name) const;

    // Tornado's options.name / options["name"], typed: throws OptionsError
    // if there is no such option or it is not a T.
    template <typename T>
    const T& get(std::string_view name) const {
        return typed<T>(name).value();
    }
    // Tornado's options.name = value (the callback runs).
    template <typename T>
    void set(std::string_view name, T value) {
        typed<option_type_t<T>>(name).set(option_type_t<T>(std::move(value)));
    }

    // Names (as defined) and values as text, sorted by name.
    std::map<std::string, std::string> as_dict() const;
    // The same for one group's options (Tornado's group_dict); "" means
    // every option, as in Tornado.
    std::map<std::string, std::string> group_dict(std::string_view group) const;
    // Every option's group_name(), once each ("" among them: the group of `--help`).
    std::set<std::string> groups() const;
    // The name --help shows in its usage line (argv[0] once parsed).
    const std::string& program_name() const noexcept { return program_name_; }

private:
    void check_new_name(std::string_view name) const;
    void add(std::unique_ptr<OptionBase> option);
    OptionBase* find(std::string_view name) const;
    [[noreturn]] void unknown_option(std::string_view name, std::string_view where) const;

    template <typename T>
    Option<T>& typed(std::string_view name) const {
        OptionBase* base = find(name);
        if (base == nullptr) unknown_option(name, "Unrecognized option");
        auto* option = dynamic_cast<Option<T>*>(base);
        if (option == nullptr) {
            throw OptionsError("Option '" + base->name() + "' is of type " + base->type_name() +
                               ", not " + detail::type_description<T>());
        }
        return *option;
    }

    std::map<std::string, std::unique_ptr<OptionBase>, std::less<>> options_;  // by normalized name
    std::vector<std::function<void()>> parse_callbacks_;
    std::string program_name_ = "program";
};

// The program's options: what the free functions below use. Made on first
// use (so options may be defined during static initialisation), with
// --help and the logging options already defined.
OptionParser& options();

// Defines on `parser` the logging options every Tornado program has, and a
// parse callback that applies them (enable_pretty_logging):
//   --logging=debug|info|warning|error|none   (default info)
//   --log_file_prefix=PATH       lines to this file instead of stderr
//   --log_to_stderr              to stderr as well as the file
//   --log_rotate_mode=size|time  how the file is rotated (default size)
//   --log_file_max_size=N        size: bytes per file (100,000,000)
//   --log_rotate_when=midnight   time: S, M, H, D, midnight, W0-W6
//   --log_rotate_interval=1      time: units of --log_rotate_when per file
//   --log_file_num_backups=10    rotated files kept
// (the rotation: LogFileOptions in tornado/log.h). As in Tornado, "none"
// leaves the log configuration alone (whatever the program set with
// set_log_level and set_log_handler). options() has them already; call
// this for a parser of your own. (Tornado keeps this function in
// tornado.log.) Tornado's --log_to_stderr has a third value, unset, which
// C++'s bool has not: here stderr is used when there is no file or when
// --log_to_stderr says so.
void define_logging_options(OptionParser& parser);
// Applies those options (Tornado's enable_pretty_logging, which
// parse_command_line and parse_config_file call): the level, and with
// --log_file_prefix a handler (set_log_handler) writing to the file, and to
// stderr too with --log_to_stderr. Throws OptionsError for a
// --log_rotate_mode other than size or time, a --log_rotate_when it does
// not know, or a file it cannot open.
void enable_pretty_logging(const OptionParser& parser);

// ---- The free functions, on options(): what main() uses ----------------------

// Defines an option on options(), the program's parser: see
// OptionParser::define.
template <typename T>
Option<option_type_t<T>>& define(std::string_view name, T default_value,
                                 OptionSpec<option_type_t<T>> spec = {},
                                 SourceLocation where = SourceLocation::current()) {
    return options().define(name, std::move(default_value), std::move(spec), where);
}
// Defines an option on options() with a help text only, as Tornado's
// define("port", default=8888, help="run on the given port") does; see
// OptionParser::define.
template <typename T>
Option<option_type_t<T>>& define(std::string_view name, T default_value, std::string_view help,
                                 SourceLocation where = SourceLocation::current()) {
    return options().define(name, std::move(default_value), help, where);
}

// As OptionParser::parse_command_line, but made for main(): on a bad command
// line it prints the error and how to get help to stderr and exits with
// status 2 (the convention for usage errors), instead of throwing.
std::vector<std::string> parse_command_line(int argc, const char* const argv[], bool final = true);

// As OptionParser::parse_config_file, printing the error and exiting with
// status 2 on a bad file.
void parse_config_file(const std::string& path, bool final = true);

// Writes the help of options(), as `--help` does (which then exits 0).
void print_help(std::ostream& out);
// Adds `callback` to those options() runs after each final parse.
void add_parse_callback(std::function<void()> callback);

}  // namespace tornado
