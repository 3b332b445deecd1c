// options.cpp: see tornado/options.h for the contract, the syntax, and the
// list of places where we differ from Tornado on purpose.
//
// In order: small text helpers (names, "did you mean", help wrapping); the
// duration syntax; the config-file reader; the value parsers that the
// OptionType specialisations call; then OptionParser itself and the free
// functions on the program's parser. Everything here runs at start-up, on
// one thread, before any loop exists; it may print and exit the process.
#include "tornado/options.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/text.h"
#include "tornado/log.h"

namespace tornado {
namespace {

// Tornado stores names with '-' for '_', so either spelling finds an option.
// Every lookup goes through this, so options_ is keyed by the dashed form
// while each option keeps the spelling it was defined with (name()).
std::string normalize_name(std::string_view name) {
    std::string normalized(name);
    std::replace(normalized.begin(), normalized.end(), '_', '-');
    return normalized;
}

using detail::is_digit;
using detail::lower_ascii;

// Space inside a line of a config file or a value: a newline ends the line.
bool is_space(char c) { return c != '\n' && detail::is_ascii_space(c); }
bool is_letter(char c) { return detail::is_ascii_letter(c); }

// Edit distance counting a swap of neighbours as one edit, for "did you mean"
// (the "optimal string alignment" variant of Damerau-Levenshtein: a swap
// counts as one edit, which catches the commonest typo, "--prot"). The full
// table is fine: option names are short and this only runs on an error.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

// Python's textwrap.wrap(text, width): words filled greedily into lines of
// at most `width`, a longer word cut into pieces. Like textwrap, a long word
// first fills what is left of the current line. Unlike it, we never break
// after a hyphen, so help with long hyphenated words may wrap a little
// differently from Tornado's.
std::vector<std::string> wrap(std::string_view text, std::size_t width) {
    std::vector<std::string> lines;
    std::string line;
    std::istringstream words{std::string(text)};
    for (std::string word; words >> word;) {
        // A word wider than a whole line: cut off what fits, end the line, and
        // go round again until the rest fits on a line of its own.
        while (word.size() > width) {
            std::size_t room =
                line.empty() ? width : (line.size() + 1 < width ? width - line.size() - 1 : 0);
            // The current line is too full for even one more character after the
            // space: close it and retry with an empty line.
            if (room == 0) {
                lines.push_back(std::exchange(line, {}));
                continue;
            }
            if (!line.empty()) line += ' ';
            line += word.substr(0, room);
            word.erase(0, room);
            lines.push_back(std::exchange(line, {}));
        }
        if (!line.empty() && line.size() + 1 + word.size() > width)
            lines.push_back(std::exchange(line, {}));
        if (!line.empty()) line += ' ';
        line += word;
    }
    if (!line.empty()) lines.push_back(line);
    return lines;
}

// ---- durations -------------------------------------------------------------------

struct DurationUnit {
    std::string_view name;
    double seconds;
};
// Tornado's abbreviations and the timedelta() keyword names, plus ns. Units
// are case-sensitive, as in Tornado (its IGNORECASE only reaches the [eE]).
// "m" is minutes, never metres or months, again as in Tornado.
constexpr DurationUnit kDurationUnits[] = {
    {"w", 604800},   {"weeks", 604800},
    {"d", 86400},    {"days", 86400},
    {"h", 3600},     {"hours", 3600},
    {"m", 60},       {"min", 60},
    {"minutes", 60}, {"s", 1},
    {"sec", 1},      {"seconds", 1},
    {"ms", 1e-3},    {"milliseconds", 1e-3},
    {"us", 1e-6},    {"microseconds", 1e-6},
    {"ns", 1e-9},    {"nanoseconds", 1e-9},
};

// The length of Tornado's float pattern at the start of `text`:
// [-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?, or 0.
// Written by hand instead of with std::regex: the pattern is small, and the
// scanner says exactly where the number ends, which is where the unit starts.
std::size_t float_length(std::string_view text) {
    std::size_t at = 0;
    auto digits = [&] {
        std::size_t start = at;
        while (at < text.size() && is_digit(text[at])) ++at;
        return at - start;
    };
    if (at < text.size() && (text[at] == '-' || text[at] == '+')) ++at;
    if (digits() > 0) {
        if (at < text.size() && text[at] == '.') {
            ++at;
            digits();
        }
    } else if (at < text.size() && text[at] == '.') {
        ++at;
        if (digits() == 0) return 0;
    } else {
        return 0;
    }
    if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
        std::size_t mark = at++;
        if (at < text.size() && (text[at] == '-' || text[at] == '+')) ++at;
        if (digits() == 0) at = mark;  // "1e" is the number 1 and the unit "e"
    }
    return at;
}

// Reads all of `text` as a double, or throws with `what` (the quoted input)
// in the message. std::from_chars never allocates and ignores the locale, so
// "1.5" reads the same whatever LC_NUMERIC says; but it rejects a leading
// '+', which Python's float() accepts, hence the strip. It also accepts
// "inf" and "nan", as float() does. A result too small to represent (1e-400)
// is reported as out of range, where Python would give 0.0.
double read_double(std::string_view text, const std::string& what) {
    if (!text.empty() && text[0] == '+') text.remove_prefix(1);
    double value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc::result_out_of_range)
        throw std::invalid_argument(what + " is out of range for double");
    if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
        throw std::invalid_argument("cannot read " + what + " as double");
    }
    return value;
}

// ---- config files -----------------------------------------------------------------

// One `name = value` of a config file.
struct Assignment {
    std::string name;
    std::vector<std::string> items;  // one for a plain value
    bool is_list = false;
    int line = 0;
};

// Reads the config syntax of parse_config_file() (see options.h) with one
// cursor over the whole file, so that a list may span lines. Tornado runs
// the file as Python; we read a small, safe subset of that syntax instead,
// so that a config file can never run code.
//
// Invariants: at_ is the next byte to read; line_ is the 1-based line at_ is
// on, and skip_newline() is what moves past a '\n' and counts it. The read_*
// functions leave at_ on the first byte they did not use, and stay on their
// line, except read_list (which counts its newlines through skip_newline)
// and the backslash-newline case of read_quoted. A syntax error throws at
// once, through fail().
class ConfigReader {
public:
    ConfigReader(std::string path, std::string text)
        : path_(std::move(path)), text_(std::move(text)) {}

    std::vector<Assignment> read() {
        std::vector<Assignment> assignments;
        while (true) {
            skip_blank_lines_and_comments();
            if (at_ >= text_.size()) return assignments;
            assignments.push_back(read_assignment());
        }
    }

    // Public so that parse_config_file can report a bad value against the line
    // of its assignment, in the same "path:line: message" form.
    [[noreturn]] void fail(int line, const std::string& what) const {
        throw OptionsError(path_ + ":" + std::to_string(line) + ": " + what);
    }

private:
    // `name = value` up to (not including) the line's end. The name follows
    // Python's identifier rule, plus '-' so that `log-to-stderr` works too.
    Assignment read_assignment() {
        Assignment assignment;
        assignment.line = line_;
        std::size_t start = at_;
        if (at_ < text_.size() && (is_letter(text_[at_]) || text_[at_] == '_')) {
            while (at_ < text_.size() && (is_letter(text_[at_]) || is_digit(text_[at_]) ||
                                          text_[at_] == '_' || text_[at_] == '-')) {
                ++at_;
            }
        }
        assignment.name = text_.substr(start, at_ - start);
        skip_spaces();
        if (assignment.name.empty() || peek() != '=') fail(line_, "expected `name = value`");
        ++at_;
        skip_spaces();
        if (peek() == '[') {
            assignment.is_list = true;
            assignment.items = read_list();
        } else {
            assignment.items.push_back(read_value("\n#"));
        }
        skip_spaces();
        skip_comment();
        // Whatever follows the value on its line must be a comment: a second
        // value ("port = 80 81") is an error, not silently dropped.
        if (at_ < text_.size() && text_[at_] != '\n')
            fail(line_, "unexpected text after the value");
        return assignment;
    }

    // A quoted string, or bare text up to one of `stops` (trimmed). A bare
    // value ends at '#', so a value holding '#' must be quoted; in a list it
    // also ends at ',' and ']'. Leading spaces were skipped by the caller.
    std::string read_value(std::string_view stops) {
        char quote = peek();
        if (quote == '"' || quote == '\'') return read_quoted(quote);
        std::size_t start = at_;
        while (at_ < text_.size() && stops.find(text_[at_]) == std::string_view::npos) ++at_;
        std::size_t end = at_;
        while (end > start && is_space(text_[end - 1])) --end;
        if (end == start) fail(line_, "missing value");
        return text_.substr(start, end - start);
    }

    // A Python string literal, with the common escapes. It must close on the
    // line it opened on, and an unterminated one is reported at that line.
    // One exception: a backslash right before the newline takes the newline
    // as an unknown escape (kept as "\\\n") and the string goes on to the
    // next line, which line_ then does not count, so later error messages
    // name a line one too early. (Python would drop both characters.)
    std::string read_quoted(char quote) {
        int opened_on = line_;
        ++at_;
        std::string value;
        while (true) {
            if (at_ >= text_.size() || text_[at_] == '\n') fail(opened_on, "unterminated string");
            char c = text_[at_++];
            if (c == quote) return value;
            // A backslash as the very last byte of the file is kept; the loop then
            // reports the string as unterminated.
            if (c != '\\' || at_ >= text_.size()) {
                value += c;
                continue;
            }
            char escaped = text_[at_++];
            switch (escaped) {
                case 'n': value += '\n'; break;
                case 't': value += '\t'; break;
                case 'r': value += '\r'; break;
                case '\\':
                case '\'':
                case '"': value += escaped; break;
                default: value += '\\'; value += escaped;  // as Python keeps unknown escapes
            }
        }
    }

    // Called with at_ on the '['.
    // [item, item, ...], across lines, comments allowed, a trailing comma too.
    std::vector<std::string> read_list() {
        int opened_on = line_;
        ++at_;  // '['
        std::vector<std::string> items;
        while (true) {
            skip_list_space();
            if (at_ >= text_.size()) fail(opened_on, "unterminated list");
            if (peek() == ']') {
                ++at_;
                return items;
            }
            items.push_back(read_value(",]#\n"));
            skip_list_space();
            if (at_ >= text_.size()) fail(opened_on, "unterminated list");
            if (peek() == ',') {
                ++at_;
            } else if (peek() != ']') {
                fail(line_, "expected ',' or ']' in the list");
            }
        }
    }

    // '\0' at the end of the text, so callers can compare without a bounds
    // check of their own ('\0' matches none of the characters they look for).
    char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }
    void skip_spaces() {
        while (at_ < text_.size() && is_space(text_[at_])) ++at_;
    }
    void skip_comment() {
        if (peek() != '#') return;
        while (at_ < text_.size() && text_[at_] != '\n') ++at_;
    }
    void skip_newline() {
        if (peek() == '\n') {
            ++at_;
            ++line_;
        }
    }
    void skip_list_space() {
        while (true) {
            skip_spaces();
            skip_comment();
            if (peek() != '\n') return;
            skip_newline();
        }
    }
    void skip_blank_lines_and_comments() {
        while (at_ < text_.size()) {
            skip_spaces();
            skip_comment();
            if (peek() != '\n') return;
            skip_newline();
        }
    }

    std::string path_;
    std::string text_;
    std::size_t at_ = 0;
    int line_ = 1;
};

// The whole file, as bytes (binary: no newline translation). errno is read
// right after the failed open, before anything else can change it.
std::string read_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw OptionsError(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream contents;
    contents << file.rdbuf();
    return contents.str();
}

// The program's parser: Tornado's options object, with the logging option.
// A subclass only so that options() can hold it as one function-local
// static that is fully set up by its constructor.
class ProgramOptions : public OptionParser {
public:
    ProgramOptions() { define_logging_options(*this); }
};

// What the free parse functions do on a bad command line or config file:
// one line saying what is wrong and how to get help, then exit status 2
// (the usual code for a usage error). Tornado instead prints the whole
// help; see the header's list of differences.
[[noreturn]] void exit_with_usage_error(const std::string& message) {
    const std::string& program = options().program_name();
    std::cerr << program << ": " << message << "\nRun '" << program
              << " --help' to see the options.\n";
    std::cerr.flush();
    std::exit(2);
}

}  // namespace

// ---- the value parsers ------------------------------------------------------------

namespace detail {

// Stricter than Tornado, which takes anything but false/0/f as true (see
// the header): a typo such as --debug=flase must not switch debugging on.
bool parse_bool(std::string_view text) {
    std::string lower = lower_ascii(text);
    for (std::string_view yes : {"true", "t", "yes", "y", "on", "1"}) {
        if (lower == yes) return true;
    }
    for (std::string_view no : {"false", "f", "no", "n", "off", "0"}) {
        if (lower == no) return false;
    }
    throw std::invalid_argument("cannot read " + detail::quoted(text) +
                                " as bool (true/false, yes/no, on/off, 1/0)");
}

namespace {

// The two messages of parse_signed and parse_unsigned.
[[noreturn]] void throw_out_of_range(std::string_view text, std::string_view type_name) {
    throw std::invalid_argument(detail::quoted(text) + " is out of range for " +
                                std::string(type_name));
}

[[noreturn]] void throw_unreadable(std::string_view text, std::string_view type_name) {
    throw std::invalid_argument("cannot read " + detail::quoted(text) + " as " +
                                std::string(type_name));
}

}  // namespace

// Parsed as long long, then checked against the option type's own
// limits, so one function serves every signed integer type. Two messages:
// "out of range" when the text is a well-formed number that does not fit,
// "cannot read" for anything else.
long long parse_signed(std::string_view text, long long min, long long max,
                       std::string_view type_name) {
    std::string_view digits = text;
    // from_chars rejects a leading '+', which Python's int() accepts, so it
    // is dropped here; but only before a digit, or "+-5" would read as -5.
    if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-') digits.remove_prefix(1);
    long long value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    // On overflow from_chars still moves `end` past the digits, so all_read
    // tells "too big" apart from "not a number".
    bool all_read = !digits.empty() && end == digits.data() + digits.size();
    if (all_read && (error == std::errc::result_out_of_range || value < min || value > max)) {
        throw_out_of_range(text, type_name);
    }
    if (error != std::errc() || !all_read) throw_unreadable(text, type_name);
    return value;
}

unsigned long long parse_unsigned(std::string_view text, unsigned long long max,
                                  std::string_view type_name) {
    std::string_view digits = text;
    if (digits.size() > 1 && digits[0] == '+') digits.remove_prefix(1);
    // from_chars for an unsigned type does not accept '-' at all, so "-1"
    // would be "cannot read"; a negative number is spotted first, to say
    // "out of range" instead, which is the real problem.
    bool negative =
        digits.size() > 1 && digits[0] == '-' &&
        std::all_of(digits.begin() + 1, digits.end(), [](char c) { return is_digit(c); });
    unsigned long long value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    bool all_read = !digits.empty() && end == digits.data() + digits.size();
    if (negative || (all_read && (error == std::errc::result_out_of_range || value > max))) {
        throw_out_of_range(text, type_name);
    }
    if (error != std::errc() || !all_read) throw_unreadable(text, type_name);
    return value;
}

double parse_double(std::string_view text) { return read_double(text, detail::quoted(text)); }

std::chrono::duration<double> parse_duration(std::string_view text) {
    // Tornado: a sum of \s*(float)\s*(\w*)\s* terms, the unit seconds when absent.
    // The unit here is letters only, where Tornado's \w* also takes digits:
    // that is what lets "1h30m" read as two terms (Tornado would see the
    // unit "h30m"). Unlike Tornado, an empty text is an error, not zero.
    const std::string example = " (write it like 1h 30m, 2.5s or 100ms)";
    double seconds = 0;
    bool any = false;
    std::size_t at = 0;
    while (true) {
        while (at < text.size() && is_space(text[at])) ++at;
        if (at >= text.size()) break;
        std::size_t length = float_length(text.substr(at));
        if (length == 0)
            throw std::invalid_argument("cannot read " + detail::quoted(text) + " as a duration" +
                                        example);
        double number = read_double(text.substr(at, length), detail::quoted(text));
        at += length;
        while (at < text.size() && is_space(text[at])) ++at;
        std::size_t unit_start = at;
        while (at < text.size() && is_letter(text[at])) ++at;
        std::string_view unit = text.substr(unit_start, at - unit_start);
        double unit_seconds = unit.empty() ? 1 : 0;
        // 0 marks "not found": no real unit is worth 0 seconds.
        for (const DurationUnit& known : kDurationUnits) {
            if (known.name == unit) unit_seconds = known.seconds;
        }
        if (unit_seconds == 0) {
            throw std::invalid_argument("unknown unit " + detail::quoted(unit) + " in " +
                                        detail::quoted(text) +
                                        " (w, d, h, m or min, s or sec, ms, us, ns)");
        }
        seconds += number * unit_seconds;
        any = true;
    }
    if (!any)
        throw std::invalid_argument("cannot read " + detail::quoted(text) + " as a duration" +
                                    example);
    return std::chrono::duration<double>(seconds);
}

// The shortest text that reads back as the same double (to_chars with no
// precision guarantees the round trip), so --help and as_dict() show "0.1",
// not "0.100000". 64 bytes is more than any double needs.
std::string format_double(double value) {
    char buffer[64];
    char* end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
    return std::string(buffer, end);
}

}  // namespace detail

// ---- OptionBase ---------------------------------------------------------------------

// Every value error of an option goes out through here, so that the
// message always starts with the option's name.
void OptionBase::fail(const std::string& what) const {
    throw OptionsError("Option " + detail::quoted(name_) + ": " + what);
}

// ---- OptionParser -------------------------------------------------------------------

// Every parser gets --help, as in Tornado. The callback captures `this`:
// the option lives in this parser's options_, so it cannot outlive it.
// std::exit (not a return) because --help must stop the program before
// main() goes on with the defaults; static destructors still run.
OptionParser::OptionParser() {
    OptionSpec<bool> spec;
    spec.help = "show this help information";
    spec.callback = [this](const bool& wanted) {
        if (!wanted) return;
        print_help(std::cout);
        std::cout.flush();
        std::exit(0);
    };
    // No file: Tornado prints its own options first, under no group heading.
    add(std::make_unique<Option<bool>>("help", false, std::move(spec), std::string()));
}

// A name that parse_command_line could never match ("-x", "a=b", "a b")
// is refused at define() time, where the programmer sees it, instead of
// silently never being settable. is_space() leaves out '\n', hence the
// extra test.
void OptionParser::check_new_name(std::string_view name) const {
    bool well_formed = !name.empty() && name[0] != '-' &&
                       std::none_of(name.begin(), name.end(),
                                    [](char c) { return c == '=' || is_space(c) || c == '\n'; });
    if (!well_formed)
        throw OptionsError("Option name " + detail::quoted(name) +
                           " cannot be used on a command line");
    if (const OptionBase* existing = find(name)) {
        throw OptionsError("Option " + detail::quoted(normalize_name(name)) +
                           " already defined in " + existing->file_name());
    }
}

// emplace does not overwrite: define() has already refused a taken name
// through check_new_name, and the constructor's --help is the first.
void OptionParser::add(std::unique_ptr<OptionBase> option) {
    std::string key = normalize_name(option->name());
    options_.emplace(std::move(key), std::move(option));
}

OptionBase* OptionParser::find(std::string_view name) const {
    auto found = options_.find(normalize_name(name));
    return found == options_.end() ? nullptr : found->second.get();
}

bool OptionParser::contains(std::string_view name) const { return find(name) != nullptr; }

OptionBase& OptionParser::option(std::string_view name) {
    OptionBase* found = find(name);
    if (found == nullptr) unknown_option(name, "Unrecognized option");
    return *found;
}

// The non-const overload does not modify anything either; sharing it
// keeps the one error path.
const OptionBase& OptionParser::option(std::string_view name) const {
    return const_cast<OptionParser*>(this)->option(name);
}

// Throws "Unrecognized option: 'prot' (did you mean --port?)". The hint is
// ours, not Tornado's. The closest name at most two edits away wins (the
// first in name order on a tie); `distance < known.size()` stops a
// one-letter option from being suggested for any short typo.
void OptionParser::unknown_option(std::string_view name, std::string_view lead) const {
    std::string normalized = normalize_name(name);
    std::string message = std::string(lead) + ": " + detail::quoted(normalized);
    std::string_view closest;
    std::size_t best = 3;  // suggest only names at most two edits away
    for (const auto& [known, option] : options_) {
        std::size_t distance = edit_distance(normalized, known);
        if (distance < best && distance < known.size()) {
            best = distance;
            closest = known;
        }
    }
    if (!closest.empty()) message += " (did you mean --" + std::string(closest) + "?)";
    throw OptionsError(message);
}

std::vector<std::string> OptionParser::parse_command_line(int argc, const char* const argv[],
                                                          bool final) {
    std::vector<std::string> args;
    for (int i = 0; i < argc; ++i) args.emplace_back(argv[i] != nullptr ? argv[i] : "");
    return parse_command_line(args, final);
}

// Tornado's loop, argument by argument. Options are applied as they are
// read, so an error part-way leaves the earlier ones set (as in Tornado);
// the free parse_command_line exits on it anyway.
std::vector<std::string> OptionParser::parse_command_line(const std::vector<std::string>& args,
                                                          bool final) {
    if (!args.empty()) program_name_ = args[0];
    std::vector<std::string> remaining;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& arg = args[i];
        // Everything from the first positional argument on, or after "--", is the program's.
        if (arg.empty() || arg[0] != '-') {
            remaining.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
            break;
        }
        if (arg == "--") {
            remaining.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        }
        // Python's arg.lstrip("-"): any number of dashes, so -port and ---port
        // work like --port. A bare "-" leaves an empty name: unrecognized.
        std::string_view body = arg;
        body.remove_prefix(body.find_first_not_of('-') == std::string_view::npos
                               ? body.size()
                               : body.find_first_not_of('-'));
        std::size_t equals = body.find('=');
        std::string_view name = body.substr(0, equals);
        OptionBase* option = find(name);
        if (option == nullptr) unknown_option(name, "Unrecognized command line option");
        if (equals != std::string_view::npos) {
            option->parse(body.substr(equals + 1));
        } else if (option->is_flag()) {
            option->parse("true");
        } else {
            // `--port 8000` is refused, as in Tornado, but the message shows the
            // fix, since that is almost always what the user meant.
            std::string dashed = "--" + normalize_name(name);
            std::string message = "Option " + detail::quoted(normalize_name(name)) +
                                  " requires a value: write " + dashed + "=VALUE";
            if (i + 1 < args.size() && !args[i + 1].starts_with("-")) {
                message +=
                    " (" + dashed + "=" + args[i + 1] + ", not " + dashed + " " + args[i + 1] + ")";
            }
            throw OptionsError(message);
        }
    }
    if (final) run_parse_callbacks();
    return remaining;
}

void OptionParser::parse_config_file(const std::string& path, bool final) {
    ConfigReader reader(path, read_file(path));
    std::vector<Assignment> assignments = reader.read();

    // As Python's exec() leaves them: each name once, in the order first
    // assigned, with its last value.
    // Two passes: every name is checked before any option is set, so a
    // syntax error or an unknown name leaves the options untouched. A bad
    // value found in the second pass, though, stops there with the earlier
    // assignments already applied.
    std::vector<Assignment> latest;
    for (Assignment& assignment : assignments) {
        if (find(assignment.name) == nullptr) {
            reader.fail(assignment.line, "unknown option " + detail::quoted(assignment.name));
        }
        auto same = std::find_if(latest.begin(), latest.end(), [&](const Assignment& seen) {
            return normalize_name(seen.name) == normalize_name(assignment.name);
        });
        if (same == latest.end()) {
            latest.push_back(std::move(assignment));
        } else {
            *same = std::move(assignment);
        }
    }
    for (const Assignment& assignment : latest) {
        OptionBase& target = *find(assignment.name);
        try {
            if (assignment.is_list) {
                target.parse_items(assignment.items);
            } else {
                target.parse(assignment.items.front());
            }
            // Rethrown with "path:line: " in front, so the user can find it.
        } catch (const OptionsError& error) {
            reader.fail(assignment.line, error.what());
        }
    }
    if (final) run_parse_callbacks();
}

void OptionParser::print_help(std::ostream& out) const {
    // Tornado's layout: 30 columns for `--name=METAVAR`, the description
    // wrapped at 44 beside it. "(default false)" is left out: a flag is off
    // unless given.
    constexpr std::size_t kNameWidth = 30;
    constexpr std::size_t kTextWidth = 44;
    out << "Usage: " << program_name_ << " [OPTIONS]\n\nOptions:\n\n";
    std::map<std::string, std::vector<std::pair<std::string, const OptionBase*>>> by_group;
    for (const auto& [name, option] : options_)
        by_group[option->group_name()].emplace_back(name, option.get());
    for (const auto& [group, members] : by_group) {
        if (!group.empty()) out << "\n" << group << " options:\n\n";
        for (const auto& [name, option] : members) {  // sorted by name: options_ is a map
            // `name` is the map key, the dashed form: help always shows names
            // as they are typed on a command line, as Tornado does.
            std::string prefix = name;
            if (!option->metavar().empty()) prefix += "=" + option->metavar();
            std::string description = option->help();
            std::string shown_default = option->default_string();
            if (!shown_default.empty() && !(option->is_flag() && shown_default == "false")) {
                description += " (default " + shown_default + ")";
            }
            std::vector<std::string> lines = wrap(description, kTextWidth);
            // A name too long for its column gets a line of its own, with the
            // description starting on the next line, as in Tornado.
            if (prefix.size() > kNameWidth || lines.empty()) lines.insert(lines.begin(), "");
            std::string first = "  --" + prefix +
                                std::string(kNameWidth - std::min(prefix.size(), kNameWidth), ' ') +
                                " " + lines[0];
            // Python's print() would leave trailing spaces when lines[0] is
            // empty; we trim them, which no reader can see.
            first.erase(first.find_last_not_of(' ') + 1);
            out << first << "\n";
            for (std::size_t i = 1; i < lines.size(); ++i)
                out << std::string(kNameWidth + 5, ' ') << lines[i] << "\n";
        }
    }
    out << "\n";
}

void OptionParser::add_parse_callback(std::function<void()> callback) {
    parse_callbacks_.push_back(std::move(callback));
}

// In the order they were added. A callback that throws stops the rest
// and reaches the caller of the parse; the free functions turn only an
// OptionsError into a usage error.
void OptionParser::run_parse_callbacks() {
    for (const auto& callback : parse_callbacks_) callback();
}

std::map<std::string, std::string> OptionParser::as_dict() const { return group_dict(""); }

std::map<std::string, std::string> OptionParser::group_dict(std::string_view group) const {
    // Tornado: an empty group means every option.
    std::map<std::string, std::string> values;
    for (const auto& [name, option] : options_) {
        if (group.empty() || option->group_name() == group)
            values[option->name()] = option->value_string();
    }
    return values;
}

std::set<std::string> OptionParser::groups() const {
    std::set<std::string> names;
    for (const auto& [name, option] : options_) names.insert(option->group_name());
    return names;
}

// ---- the program's options ---------------------------------------------------------------

// A function-local static, not a global: files define their options
// during static initialisation, in an order C++ does not fix, so the
// parser must be made on first use (and C++ makes that thread-safe).
OptionParser& options() {
    static ProgramOptions parser;
    return parser;
}

void define_logging_options(OptionParser& parser) {
    static constexpr const char* kLevels = "debug|info|warning|error|none";
    static constexpr const char* kGroup = "tornado/log.h";
    OptionSpec<std::string> spec;
    spec.help =
        "the least important log lines to show; 'none' leaves the log configuration as the "
        "program set it";
    spec.metavar = kLevels;
    spec.group = kGroup;
    // The value is checked as soon as it is parsed, so a bad --logging is an
    // ordinary option error (and the old value is kept). It is applied only
    // by the parse callback below, once the final parse is done.
    spec.callback = [](const std::string& value) {
        try {
            parse_log_level(value);
        } catch (const std::invalid_argument&) {
            throw OptionsError("Option 'logging': " + detail::quoted(value) + " is not one of " +
                               kLevels);
        }
    };
    parser.define("logging", std::string("info"), std::move(spec));
    parser.define("log_to_stderr", false,
                  {.help = "log to stderr too when --log_file_prefix is set (without it, "
                           "lines go to stderr anyway)",
                   .group = kGroup});
    parser.define("log_file_prefix", std::string(),
                  {.help = "the log file (rotated; one per process: put the port in it)",
                   .metavar = "PATH",
                   .group = kGroup});
    parser.define(
        "log_file_max_size", 100 * 1000 * 1000,
        {.help = "with --log_rotate_mode=size: bytes before the file is rotated", .group = kGroup});
    parser.define("log_file_num_backups", 10, {.help = "rotated files to keep", .group = kGroup});
    parser.define("log_rotate_when", std::string("midnight"),
                  {.help = "with --log_rotate_mode=time: S, M, H, D, midnight or W0-W6 (Monday "
                           "to Sunday)",
                   .group = kGroup});
    parser.define("log_rotate_interval", 1,
                  {.help = "with --log_rotate_mode=time: how many units of --log_rotate_when "
                           "a file covers",
                   .group = kGroup});
    parser.define("log_rotate_mode", std::string("size"),
                  {.help = "rotate the log file by 'size' or by 'time'", .group = kGroup});
    // `parser` owns the callback: the reference cannot dangle.
    parser.add_parse_callback([&parser] { enable_pretty_logging(parser); });
}

void enable_pretty_logging(const OptionParser& parser) {
    LogLevel level = parse_log_level(parser.get<std::string>("logging"));
    if (level == LogLevel::none) return;
    set_log_level(level);
    const std::string& prefix = parser.get<std::string>("log_file_prefix");
    if (prefix.empty()) return;  // the default handler: stderr

    LogFileOptions file;
    file.path = prefix;
    const std::string& mode = parser.get<std::string>("log_rotate_mode");
    if (mode == "size") {
        file.rotate = LogFileOptions::Rotate::size;
    } else if (mode == "time") {
        file.rotate = LogFileOptions::Rotate::time;
    } else {
        throw OptionsError(
            "The value of log_rotate_mode option should be \"size\" or \"time\", "
            "not " +
            detail::quoted(mode) + ".");
    }
    file.max_size = static_cast<std::uint64_t>(std::max(0, parser.get<int>("log_file_max_size")));
    file.backups = parser.get<int>("log_file_num_backups");
    file.when = parser.get<std::string>("log_rotate_when");
    file.interval = parser.get<int>("log_rotate_interval");
    LogHandler to_file;
    try {
        to_file = make_file_log_handler(file);
    } catch (const std::exception& error) {  // the file cannot be opened, a bad --log_rotate_when
        throw OptionsError("Option 'log_file_prefix': " + std::string(error.what()));
    }
    if (!parser.get<bool>("log_to_stderr")) {
        set_log_handler(std::move(to_file));
        return;
    }
    set_log_handler([to_file = std::move(to_file)](const LogRecord& record) {
        to_file(record);
        default_log_handler(record);
    });
}

std::vector<std::string> parse_command_line(int argc, const char* const argv[], bool final) {
    try {
        return options().parse_command_line(argc, argv, final);
    } catch (const OptionsError& error) {
        exit_with_usage_error(error.what());
    }
}

void parse_config_file(const std::string& path, bool final) {
    try {
        options().parse_config_file(path, final);
    } catch (const OptionsError& error) {
        exit_with_usage_error(error.what());
    }
}

void print_help(std::ostream& out) { options().print_help(out); }

void add_parse_callback(std::function<void()> callback) {
    options().add_parse_callback(std::move(callback));
}

}  // namespace tornado
