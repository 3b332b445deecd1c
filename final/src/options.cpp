// options.cpp: see tornado/options.h for the contract.
#include "tornado/options.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "text.h"
#include "tornado/log.h"

namespace tornado {
namespace {

// Tornado stores names with '-' for '_', so either spelling finds an option.
std::string normalize_name(std::string_view name) {
    std::string normalized(name);
    std::replace(normalized.begin(), normalized.end(), '_', '-');
    return normalized;
}

using detail::is_digit;
using detail::lower_ascii;
using detail::quoted;

// Space inside a line of a config file or a value: a newline ends the line.
bool is_space(char c) { return c != '\n' && detail::is_ascii_space(c); }
bool is_letter(char c) { return detail::is_ascii_letter(c); }

// Edit distance counting a swap of neighbours as one edit, for "did you mean".
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
// at most `width`, a longer word cut into pieces.
std::vector<std::string> wrap(std::string_view text, std::size_t width) {
    std::vector<std::string> lines;
    std::string line;
    std::istringstream words{std::string(text)};
    for (std::string word; words >> word;) {
        while (word.size() > width) {
            std::size_t room =
                line.empty() ? width : (line.size() + 1 < width ? width - line.size() - 1 : 0);
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
// Tornado's abbreviations and the timedelta() keyword names, plus ns.
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
// cursor over the whole file, so that a list may span lines.
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

    [[noreturn]] void fail(int line, const std::string& what) const {
        throw OptionsError(path_ + ":" + std::to_string(line) + ": " + what);
    }

private:
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
        if (at_ < text_.size() && text_[at_] != '\n')
            fail(line_, "unexpected text after the value");
        return assignment;
    }

    // A quoted string, or bare text up to one of `stops` (trimmed).
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

    std::string read_quoted(char quote) {
        int opened_on = line_;
        ++at_;
        std::string value;
        while (true) {
            if (at_ >= text_.size() || text_[at_] == '\n') fail(opened_on, "unterminated string");
            char c = text_[at_++];
            if (c == quote) return value;
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

std::string read_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw OptionsError(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream contents;
    contents << file.rdbuf();
    return contents.str();
}

// The program's parser: Tornado's options object, with the logging option.
class ProgramOptions : public OptionParser {
public:
    ProgramOptions() { define_logging_options(*this); }
};

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

bool parse_bool(std::string_view text) {
    std::string lower = lower_ascii(text);
    for (std::string_view yes : {"true", "t", "yes", "y", "on", "1"}) {
        if (lower == yes) return true;
    }
    for (std::string_view no : {"false", "f", "no", "n", "off", "0"}) {
        if (lower == no) return false;
    }
    throw std::invalid_argument("cannot read " + quoted(text) +
                                " as bool (true/false, yes/no, on/off, 1/0)");
}

long long parse_signed(std::string_view text, long long min, long long max,
                       std::string_view type_name) {
    std::string_view digits = text;
    if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-') digits.remove_prefix(1);
    long long value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    bool all_read = !digits.empty() && end == digits.data() + digits.size();
    if (all_read && (error == std::errc::result_out_of_range || value < min || value > max)) {
        throw std::invalid_argument(quoted(text) + " is out of range for " +
                                    std::string(type_name));
    }
    if (error != std::errc() || !all_read) {
        throw std::invalid_argument("cannot read " + quoted(text) + " as " +
                                    std::string(type_name));
    }
    return value;
}

unsigned long long parse_unsigned(std::string_view text, unsigned long long max,
                                  std::string_view type_name) {
    std::string_view digits = text;
    if (digits.size() > 1 && digits[0] == '+') digits.remove_prefix(1);
    bool negative =
        digits.size() > 1 && digits[0] == '-' &&
        std::all_of(digits.begin() + 1, digits.end(), [](char c) { return is_digit(c); });
    unsigned long long value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    bool all_read = !digits.empty() && end == digits.data() + digits.size();
    if (negative || (all_read && (error == std::errc::result_out_of_range || value > max))) {
        throw std::invalid_argument(quoted(text) + " is out of range for " +
                                    std::string(type_name));
    }
    if (error != std::errc() || !all_read) {
        throw std::invalid_argument("cannot read " + quoted(text) + " as " +
                                    std::string(type_name));
    }
    return value;
}

double parse_double(std::string_view text) { return read_double(text, quoted(text)); }

std::chrono::duration<double> parse_duration(std::string_view text) {
    // Tornado: a sum of \s*(float)\s*(\w*)\s* terms, the unit seconds when absent.
    const std::string example = " (write it like 1h 30m, 2.5s or 100ms)";
    double seconds = 0;
    bool any = false;
    std::size_t at = 0;
    while (true) {
        while (at < text.size() && is_space(text[at])) ++at;
        if (at >= text.size()) break;
        std::size_t length = float_length(text.substr(at));
        if (length == 0)
            throw std::invalid_argument("cannot read " + quoted(text) + " as a duration" + example);
        double number = read_double(text.substr(at, length), quoted(text));
        at += length;
        while (at < text.size() && is_space(text[at])) ++at;
        std::size_t unit_start = at;
        while (at < text.size() && is_letter(text[at])) ++at;
        std::string_view unit = text.substr(unit_start, at - unit_start);
        double unit_seconds = unit.empty() ? 1 : 0;
        for (const DurationUnit& known : kDurationUnits) {
            if (known.name == unit) unit_seconds = known.seconds;
        }
        if (unit_seconds == 0) {
            throw std::invalid_argument("unknown unit " + quoted(unit) + " in " + quoted(text) +
                                        " (w, d, h, m or min, s or sec, ms, us, ns)");
        }
        seconds += number * unit_seconds;
        any = true;
    }
    if (!any)
        throw std::invalid_argument("cannot read " + quoted(text) + " as a duration" + example);
    return std::chrono::duration<double>(seconds);
}

std::string format_double(double value) {
    char buffer[64];
    char* end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
    return std::string(buffer, end);
}

}  // namespace detail

// ---- OptionBase ---------------------------------------------------------------------

void OptionBase::fail(const std::string& what) const {
    throw OptionsError("Option " + quoted(name_) + ": " + what);
}

// ---- OptionParser -------------------------------------------------------------------

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

void OptionParser::check_new_name(std::string_view name) const {
    bool well_formed = !name.empty() && name[0] != '-' &&
                       std::none_of(name.begin(), name.end(),
                                    [](char c) { return c == '=' || is_space(c) || c == '\n'; });
    if (!well_formed)
        throw OptionsError("Option name " + quoted(name) + " cannot be used on a command line");
    if (const OptionBase* existing = find(name)) {
        throw OptionsError("Option " + quoted(normalize_name(name)) + " already defined in " +
                           existing->file_name());
    }
}

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

const OptionBase& OptionParser::option(std::string_view name) const {
    return const_cast<OptionParser*>(this)->option(name);
}

void OptionParser::unknown_option(std::string_view name, std::string_view lead) const {
    std::string normalized = normalize_name(name);
    std::string message = std::string(lead) + ": " + quoted(normalized);
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
            std::string dashed = "--" + normalize_name(name);
            std::string message = "Option " + quoted(normalize_name(name)) +
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
    std::vector<Assignment> latest;
    for (Assignment& assignment : assignments) {
        if (find(assignment.name) == nullptr) {
            reader.fail(assignment.line, "unknown option " + quoted(assignment.name));
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
            std::string prefix = name;
            if (!option->metavar().empty()) prefix += "=" + option->metavar();
            std::string description = option->help();
            std::string shown_default = option->default_string();
            if (!shown_default.empty() && !(option->is_flag() && shown_default == "false")) {
                description += " (default " + shown_default + ")";
            }
            std::vector<std::string> lines = wrap(description, kTextWidth);
            if (prefix.size() > kNameWidth || lines.empty()) lines.insert(lines.begin(), "");
            std::string first = "  --" + prefix +
                                std::string(kNameWidth - std::min(prefix.size(), kNameWidth), ' ') +
                                " " + lines[0];
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

OptionParser& options() {
    static ProgramOptions parser;
    return parser;
}

void define_logging_options(OptionParser& parser) {
    static constexpr const char* kLevels = "debug|info|warning|error|none";
    OptionSpec<std::string> spec;
    spec.help =
        "the least important log lines to show; 'none' leaves the log configuration as the "
        "program set it";
    spec.metavar = kLevels;
    spec.group = "tornado/log.h";
    spec.callback = [](const std::string& value) {
        try {
            parse_log_level(value);
        } catch (const std::invalid_argument&) {
            throw OptionsError("Option 'logging': " + quoted(value) + " is not one of " + kLevels);
        }
    };
    Option<std::string>& logging = parser.define("logging", std::string("info"), std::move(spec));
    parser.add_parse_callback([&logging] {
        LogLevel level = parse_log_level(*logging);
        if (level != LogLevel::none) set_log_level(level);
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
