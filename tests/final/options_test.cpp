// Tests of tornado/options.h: every option type, lists and ranges, the
// command-line syntax, clear errors for bad input, the help text, config
// files, callbacks, and the logging option wired to tornado/log.h.
#include "tornado/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tornado/log.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

// Runs `code`, which must throw OptionsError; returns its message.
template <typename Code>
std::string error_of(Code&& code) {
    try {
        code();
    } catch (const OptionsError& error) {
        return error.what();
    }
    ADD_FAILURE() << "no OptionsError was thrown";
    return {};
}

// A config file in the temporary directory, removed at the end of the test.
class ConfigFile {
public:
    explicit ConfigFile(const std::string& contents) {
        static int counter = 0;
        path_ = (std::filesystem::temp_directory_path() /
                 ("tornado_options_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter) + ".conf"))
                    .string();
        std::ofstream(path_, std::ios::binary) << contents;
    }
    ~ConfigFile() { std::filesystem::remove(path_); }
    ConfigFile(const ConfigFile&) = delete;
    ConfigFile& operator=(const ConfigFile&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// ---- types --------------------------------------------------------------------------

TEST(OptionsTest, EveryTypeReadsFromTheCommandLine) {
    OptionParser parser;
    auto& flag = parser.define("flag", false, "a bool");
    auto& port = parser.define("port", 80, "an int");
    auto& big = parser.define("big", 0LL, "a long long");
    auto& size = parser.define("size", std::size_t{0}, "an unsigned");
    auto& ratio = parser.define("ratio", 0.5, "a double");
    auto& name = parser.define("name", "x", "a string literal gives std::string");
    auto& timeout = parser.define("timeout", std::chrono::milliseconds(100), "a duration");
    auto& interval = parser.define("interval", std::chrono::duration<double>(1.0), "seconds as a double");
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(name.value())>, std::string>);

    parser.parse_command_line({"prog", "--flag", "--port=8080", "--big=-9000000000", "--size=+42",
                               "--ratio=2.5e-1", "--name=caf\xc3\xa9 = yes", "--timeout=1.5s",
                               "--interval=1h 30m"});
    EXPECT_TRUE(*flag);
    EXPECT_EQ(*port, 8080);
    EXPECT_EQ(*big, -9000000000LL);
    EXPECT_EQ(*size, 42u);
    EXPECT_EQ(*ratio, 0.25);
    EXPECT_EQ(*name, "caf\xc3\xa9 = yes");  // everything after the first '='
    EXPECT_EQ(*timeout, 1500ms);
    EXPECT_EQ(interval->count(), 5400.0);
    EXPECT_TRUE(port.is_set());
    EXPECT_EQ(port.default_value(), 80);
}

TEST(OptionsTest, DefaultsHoldUntilGiven) {
    OptionParser parser;
    auto& port = parser.define("port", 8888, "");
    auto& hosts = parser.define<Strings>("hosts", {"a", "b"}, "");
    parser.parse_command_line({"prog"});
    EXPECT_EQ(*port, 8888);
    EXPECT_EQ(*hosts, (Strings{"a", "b"}));
    EXPECT_FALSE(port.is_set());
    EXPECT_EQ(parser.get<int>("port"), 8888);
}

TEST(OptionsTest, BoolsSayYesOrNoInManyWaysButNotAnyWay) {
    OptionParser parser;
    auto& flag = parser.define("flag", false, "");
    for (const char* yes : {"true", "True", "TRUE", "t", "yes", "Y", "on", "1"}) {
        parser.parse_command_line({"prog", "--flag=false", std::string("--flag=") + yes});
        EXPECT_TRUE(*flag) << yes;
    }
    for (const char* no : {"false", "False", "f", "no", "N", "off", "0"}) {
        parser.parse_command_line({"prog", "--flag", std::string("--flag=") + no});
        EXPECT_FALSE(*flag) << no;
    }
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--flag=banana"}); }),
              "Option 'flag': cannot read 'banana' as bool (true/false, yes/no, on/off, 1/0)");
}

TEST(OptionsTest, DurationsUseTornadosUnits) {
    OptionParser parser;
    auto& wait = parser.define("wait", std::chrono::duration<double>(0), "");
    auto& ms = parser.define("ms", std::chrono::milliseconds(0), "");
    auto parse = [&](const std::string& text) {
        parser.parse_command_line({"prog", "--wait=" + text});
        return wait->count();
    };
    EXPECT_EQ(parse("45"), 45.0);
    EXPECT_EQ(parse("45s"), 45.0);
    EXPECT_EQ(parse("2.5 sec"), 2.5);
    EXPECT_EQ(parse("1h 30m"), 5400.0);
    EXPECT_EQ(parse("1h30min"), 5400.0);
    EXPECT_EQ(parse("2 days"), 172800.0);
    EXPECT_EQ(parse("1w"), 604800.0);
    EXPECT_EQ(parse("-1.5e3ms"), -1.5);
    EXPECT_EQ(parse(".5minutes"), 30.0);
    EXPECT_DOUBLE_EQ(parse("250us"), 0.00025);
    EXPECT_DOUBLE_EQ(parse("3ns"), 3e-9);

    parser.parse_command_line({"prog", "--ms=0.25s"});
    EXPECT_EQ(*ms, 250ms);
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--ms=1.5us"}); }),
              "Option 'ms': '1.5us' is finer than this option's unit (ms)");
    EXPECT_EQ(*ms, 250ms);  // unchanged by a bad value
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--wait=5 parsecs"}); }),
              "Option 'wait': unknown unit 'parsecs' in '5 parsecs' (w, d, h, m or min, s or sec, ms, us, ns)");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--wait=soon"}); }),
              "Option 'wait': cannot read 'soon' as a duration (write it like 1h 30m, 2.5s or 100ms)");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--wait="}); }),
              "Option 'wait': cannot read '' as a duration (write it like 1h 30m, 2.5s or 100ms)");
    EXPECT_NE(error_of([&] { parser.parse_command_line({"prog", "--ms=1e300w"}); }).find("out of range"),
              std::string::npos);
}

TEST(OptionsTest, NumbersRefuseWhatTheyCannotHold) {
    OptionParser parser;
    parser.define("port", 80, "");
    parser.define("count", 0u, "");
    parser.define("ratio", 1.0, "");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--port=80x"}); }),
              "Option 'port': cannot read '80x' as int");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--port="}); }),
              "Option 'port': cannot read '' as int");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--port=99999999999"}); }),
              "Option 'port': '99999999999' is out of range for int");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--port=0x10"}); }),
              "Option 'port': cannot read '0x10' as int");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--count=-1"}); }),
              "Option 'count': '-1' is out of range for unsigned integer");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--ratio=1.5.2"}); }),
              "Option 'ratio': cannot read '1.5.2' as double");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--ratio=1e999"}); }),
              "Option 'ratio': '1e999' is out of range for double");
    EXPECT_EQ(parser.get<int>("port"), 80);  // every failure left the value alone
}

// ---- multiple -------------------------------------------------------------------------

TEST(OptionsTest, ListsAreCommaSeparatedAndIntegerRangesInclusive) {
    OptionParser parser;
    auto& hosts = parser.define<Strings>("hosts", {}, "");
    auto& ports = parser.define<std::vector<int>>("ports", {8000}, "");
    auto& ratios = parser.define<std::vector<double>>("ratios", {}, "");
    auto& waits = parser.define<std::vector<std::chrono::seconds>>("waits", {}, "");
    EXPECT_TRUE(hosts.multiple());
    EXPECT_EQ(ports.type_name(), "list of int");

    parser.parse_command_line({"prog", "--hosts=a:1,b:2", "--ports=1,3:5,-2:-1", "--ratios=0.5,1e3",
                               "--waits=1m,2s"});
    EXPECT_EQ(*hosts, (Strings{"a:1", "b:2"}));  // a ':' in a string is just a ':'
    EXPECT_EQ(*ports, (std::vector<int>{1, 3, 4, 5, -2, -1}));
    EXPECT_EQ(*ratios, (std::vector<double>{0.5, 1000.0}));
    EXPECT_EQ(*waits, (std::vector<std::chrono::seconds>{60s, 2s}));

    parser.parse_command_line({"prog", "--hosts="});
    EXPECT_EQ(*hosts, (Strings{""}));  // as Python's "".split(",")
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--ports=1,x"}); }),
              "Option 'ports': cannot read 'x' as int");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--ports=5:3"}); }),
              "Option 'ports': the range '5:3' ends before it starts");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--ports=0:2000000000"}); }),
              "Option 'ports': the range '0:2000000000' has more than 1000000 values");
    EXPECT_EQ(*ports, (std::vector<int>{1, 3, 4, 5, -2, -1}));
}

// ---- syntax ---------------------------------------------------------------------------

TEST(OptionsTest, DashesAndUnderscoresAreTheSame) {
    OptionParser parser;
    auto& option = parser.define("log_to_file", false, "");
    parser.parse_command_line({"prog", "--log-to-file"});
    EXPECT_TRUE(*option);
    parser.parse_command_line({"prog", "--log_to-file=no"});
    EXPECT_FALSE(*option);
    EXPECT_TRUE(parser.contains("log-to-file"));
    EXPECT_EQ(parser.option("log-to_file").name(), "log_to_file");  // keeps its defined name
    EXPECT_EQ(error_of([&] { parser.define("log-to-file", 1, ""); }).rfind("Option 'log-to-file' already defined in ", 0),
              0u);
}

TEST(OptionsTest, PositionalArgumentsEndTheOptions) {
    OptionParser parser;
    auto& flag = parser.define("flag", false, "");
    EXPECT_EQ(parser.parse_command_line({"prog", "--flag", "file1", "--not-an-option", "file2"}),
              (Strings{"file1", "--not-an-option", "file2"}));
    EXPECT_EQ(parser.parse_command_line({"prog", "--", "--flag=no"}), (Strings{"--flag=no"}));
    EXPECT_TRUE(*flag);
    EXPECT_EQ(parser.parse_command_line({"prog", "-flag=0", "", "x"}), (Strings{"", "x"}));
    EXPECT_FALSE(*flag);  // one dash does as well as two, as in Tornado
    EXPECT_EQ(parser.parse_command_line({"prog"}), Strings{});
    EXPECT_EQ(parser.program_name(), "prog");

    const char* argv[] = {"/usr/bin/app", "--flag", "rest"};
    EXPECT_EQ(parser.parse_command_line(3, argv), Strings{"rest"});
    EXPECT_EQ(parser.program_name(), "/usr/bin/app");
}

TEST(OptionsTest, ValuesMustBeJoinedWithEquals) {
    OptionParser parser;
    parser.define("port", 80, "");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--port", "8000"}); }),
              "Option 'port' requires a value: write --port=VALUE (--port=8000, not --port 8000)");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--port"}); }),
              "Option 'port' requires a value: write --port=VALUE");
}

TEST(OptionsTest, UnknownOptionsAreNamedWithASuggestion) {
    OptionParser parser;
    parser.define("port", 80, "");
    parser.define("address", "", "");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--prot=1"}); }),
              "Unrecognized command line option: 'prot' (did you mean --port?)");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--adress"}); }),
              "Unrecognized command line option: 'adress' (did you mean --address?)");
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--verbose_mode"}); }),
              "Unrecognized command line option: 'verbose-mode'");
    EXPECT_EQ(error_of([&] { parser.get<int>("prot"); }), "Unrecognized option: 'prot' (did you mean --port?)");
}

// ---- typed access and callbacks ----------------------------------------------------------

TEST(OptionsTest, TypedAccessByName) {
    OptionParser parser;
    parser.define("port", 80, "");
    parser.define("name", "n", "");
    parser.set("port", 9000);  // Tornado: options.port = 9000
    parser.set("name", "other");
    EXPECT_EQ(parser.get<int>("port"), 9000);
    EXPECT_EQ(parser.get<std::string>("name"), "other");
    EXPECT_EQ(error_of([&] { parser.get<std::string>("port"); }), "Option 'port' is of type int, not string");
    EXPECT_EQ(error_of([&] { parser.set("port", 1.5); }), "Option 'port' is of type int, not double");
    EXPECT_EQ(error_of([&] { parser.get<std::vector<int>>("port"); }), "Option 'port' is of type int, not list of int");
}

TEST(OptionsTest, OptionCallbacksSeeEachNewValueAndCanRefuseIt) {
    OptionParser parser;
    std::vector<int> seen;
    OptionSpec<int> spec;
    spec.callback = [&](const int& value) {
        if (value < 0) throw OptionsError("Option 'workers': must not be negative");
        seen.push_back(value);
    };
    auto& workers = parser.define("workers", 1, std::move(spec));
    parser.parse_command_line({"prog", "--workers=4"});
    workers.set(8);
    EXPECT_EQ(seen, (std::vector<int>{4, 8}));
    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--workers=-2"}); }),
              "Option 'workers': must not be negative");
    EXPECT_EQ(*workers, 8);  // refused: the old value stays
}

TEST(OptionsTest, ParseCallbacksRunAfterEachFinalParse) {
    OptionParser parser;
    auto& port = parser.define("port", 80, "");
    std::vector<int> ports_seen;
    parser.add_parse_callback([&] { ports_seen.push_back(*port); });
    parser.parse_command_line({"prog", "--port=1"}, false);
    EXPECT_TRUE(ports_seen.empty());
    parser.parse_command_line({"prog", "--port=2"});
    ConfigFile config("port = 3\n");
    parser.parse_config_file(config.path(), false);
    parser.parse_config_file(config.path());
    EXPECT_EQ(ports_seen, (std::vector<int>{2, 3}));
}

TEST(OptionsTest, AConfigOptionCanLoadAFileMidLine) {
    // Tornado's recipe: options from --config=FILE, overridden by later flags.
    OptionParser parser;
    auto& port = parser.define("port", 80, "");
    auto& name = parser.define("name", "default", "");
    OptionSpec<std::string> spec;
    spec.callback = [&](const std::string& path) { parser.parse_config_file(path, false); };
    parser.define("config", "", std::move(spec));
    ConfigFile config("port = 9000\nname = from-file\n");
    parser.parse_command_line({"prog", "--port=1", "--config=" + config.path(), "--name=from-flag"});
    EXPECT_EQ(*port, 9000);
    EXPECT_EQ(*name, "from-flag");
}

// ---- help -----------------------------------------------------------------------------

TEST(OptionsTest, HelpIsGroupedSortedAndWrappedLikeTornados) {
    OptionParser parser;
    parser.parse_command_line({"myapp"});
    parser.define("port", 8888, {.help = "run on the given port", .metavar = "PORT", .group = "server"});
    parser.define("debug", false, {.help = "debug mode", .group = "server"});
    parser.define<Strings>("memcache_hosts", {"a:1", "b:2"},
                           {.help = "memcache servers to use for the cache of rendered pages and sessions",
                            .group = "cache"});
    parser.define("timeout", std::chrono::seconds(30), {.help = "", .group = "cache"});
    parser.define("a_very_long_option_name_indeed", "", {.metavar = "VALUE", .group = "cache"});
    parser.define("empty_list", std::vector<int>{}, {.help = "nothing by default", .group = "cache"});
    std::ostringstream help;
    parser.print_help(help);
    EXPECT_EQ(help.str(),
              "Usage: myapp [OPTIONS]\n"
              "\n"
              "Options:\n"
              "\n"
              "  --help                           show this help information\n"
              "\n"
              "cache options:\n"
              "\n"
              "  --a-very-long-option-name-indeed=VALUE\n"
              "  --empty-list                     nothing by default\n"
              "  --memcache-hosts                 memcache servers to use for the cache of\n"
              "                                   rendered pages and sessions (default\n"
              "                                   a:1,b:2)\n"
              "  --timeout                        (default 30s)\n"
              "\n"
              "server options:\n"
              "\n"
              "  --debug                          debug mode\n"
              "  --port=PORT                      run on the given port (default 8888)\n"
              "\n");
}

TEST(OptionsTest, TheGroupDefaultsToTheDefiningFile) {
    OptionParser parser;
    auto& option = parser.define("here", 1, "");
    EXPECT_NE(option.group_name().find("options_test.cpp"), std::string::npos) << option.group_name();
    EXPECT_EQ(parser.groups(), (std::set<std::string>{"", option.group_name()}));
    parser.define("there", 2, {.group = "elsewhere"});
    EXPECT_EQ(parser.group_dict("elsewhere"), (std::map<std::string, std::string>{{"there", "2"}}));
    EXPECT_EQ(parser.as_dict(),
              (std::map<std::string, std::string>{{"help", "false"}, {"here", "1"}, {"there", "2"}}));
}

TEST(OptionsDeathTest, HelpPrintsToStdoutAndExitsZero) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            OptionParser parser;
            parser.define("port", 8888, "run on the given port");
            ::dup2(STDERR_FILENO, STDOUT_FILENO);  // death tests match what reaches stderr
            parser.parse_command_line({"myapp", "--help", "--port=nonsense"});
        },
        ::testing::ExitedWithCode(0), "Usage: myapp \\[OPTIONS\\].*--port +run on the given port");
}

TEST(OptionsDeathTest, TheFreeFunctionExitsTwoOnABadCommandLine) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const char* argv[] = {"myapp", "--logging=verbose"};
    EXPECT_EXIT(parse_command_line(2, argv), ::testing::ExitedWithCode(2),
                "myapp: Option 'logging': 'verbose' is not one of debug\\|info\\|warning\\|error\\|none\n"
                "Run 'myapp --help' to see the options.");
    ConfigFile config("nonsense\n");
    EXPECT_EXIT(parse_config_file(config.path()), ::testing::ExitedWithCode(2),
                ":1: expected `name = value`");
}

// ---- config files -----------------------------------------------------------------------

TEST(OptionsTest, ConfigFilesSetOptionsByName) {
    OptionParser parser;
    auto& port = parser.define("port", 80, "");
    auto& username = parser.define("username", "foo", "");
    auto& title = parser.define("title", "", "");
    auto& quote = parser.define("quote", "", "");
    auto& debug = parser.define("debug", false, "");
    auto& timeout = parser.define("timeout", std::chrono::milliseconds(0), "");
    auto& hosts = parser.define<Strings>("memcache_hosts", {}, "");
    auto& ports = parser.define<std::vector<int>>("ports", {}, "");
    auto& tags = parser.define<Strings>("tags", {}, "");
    ConfigFile config(
        "# a comment, then a blank line\n"
        "\n"
        "port=443\n"
        "username = '\xe6\x9d\x8e\xe5\xba\xb7'   # Tornado's own test: UTF-8 text\n"
        "title = \"Tornado # 1\"\n"
        "quote = 'it\\'s \"fine\"\\n'\n"
        "  debug = True\n"
        "timeout = 1.5s\n"
        "memcache_hosts = ['cache1.example.com:11011',\n"
        "                  # a comment inside the list\n"
        "                  'cache2.example.com:11011',\n"
        "]\n"
        "ports = 8000:8002\n"
        "tags = [plain, 'with, comma']\n");
    parser.parse_config_file(config.path());
    EXPECT_EQ(*port, 443);
    EXPECT_EQ(*username, "\xe6\x9d\x8e\xe5\xba\xb7");
    EXPECT_EQ(*title, "Tornado # 1");
    EXPECT_EQ(*quote, "it's \"fine\"\n");
    EXPECT_TRUE(*debug);
    EXPECT_EQ(*timeout, 1500ms);
    EXPECT_EQ(*hosts, (Strings{"cache1.example.com:11011", "cache2.example.com:11011"}));
    EXPECT_EQ(*ports, (std::vector<int>{8000, 8001, 8002}));
    EXPECT_EQ(*tags, (Strings{"plain", "with, comma"}));
}

TEST(OptionsTest, ConfigFileErrorsNameTheFileAndLine) {
    OptionParser parser;
    auto& port = parser.define("port", 80, "");
    parser.define("name", "", "");
    auto expect_error = [&](const std::string& contents, const std::string& message) {
        ConfigFile config(contents);
        EXPECT_EQ(error_of([&] { parser.parse_config_file(config.path()); }), config.path() + ":" + message)
            << contents;
    };
    expect_error("port = 1\nprot = 2\n", "2: unknown option 'prot'");
    expect_error("\n\nport 8000\n", "3: expected `name = value`");
    expect_error("port =\n", "1: missing value");
    expect_error("port = 8000 extra # ok\nname = 'x' y\n", "2: unexpected text after the value");
    expect_error("name = 'open\n", "1: unterminated string");
    expect_error("name = ['a',\n 'b'\n", "1: unterminated list");
    expect_error("name = ['a' 'b']\n", "1: expected ',' or ']' in the list");
    expect_error("port = [1, 2]\n", "1: Option 'port': a list was given, but the option holds one int");
    expect_error("name = ok\nport = eighty\n", "2: Option 'port': cannot read 'eighty' as int");
    EXPECT_EQ(*port, 80);  // nothing was set by a file that did not read

    std::string missing = "/nonexistent/tornado.conf";
    EXPECT_EQ(error_of([&] { parser.parse_config_file(missing); }).rfind(missing + ": cannot open: ", 0), 0u);
}

TEST(OptionsTest, ConfigFilesKeepTheLastValueOfARepeatedName) {
    OptionParser parser;
    std::vector<int> seen;
    OptionSpec<int> spec;
    spec.callback = [&](const int& value) { seen.push_back(value); };
    parser.define("port", 80, std::move(spec));
    ConfigFile config("port = 1\nport = 2\n");
    parser.parse_config_file(config.path());
    EXPECT_EQ(seen, std::vector<int>{2});  // as Python: the file runs, then the names are read
}

// ---- logging -------------------------------------------------------------------------------

class LoggingOptionTest : public ::testing::Test {
protected:
    void TearDown() override { set_log_level(LogLevel::info); }
};

TEST_F(LoggingOptionTest, TheProgramsOptionsHaveIt) {
    EXPECT_TRUE(options().contains("logging"));
    EXPECT_EQ(options().get<std::string>("logging"), "info");
    EXPECT_EQ(options().option("logging").group_name(), "tornado/log.h");
}

TEST_F(LoggingOptionTest, ItSetsTheLogLevelAfterTheParse) {
    OptionParser parser;
    define_logging_options(parser);
    parser.parse_command_line({"prog", "--logging=debug"}, false);
    EXPECT_EQ(log_level(), LogLevel::info);  // not yet: only a final parse applies it
    parser.parse_command_line({"prog", "--logging=debug"});
    EXPECT_EQ(log_level(), LogLevel::debug);
    parser.parse_command_line({"prog", "--logging=WARNING"});
    EXPECT_EQ(log_level(), LogLevel::warning);

    set_log_level(LogLevel::error);  // the program's own choice...
    parser.parse_command_line({"prog", "--logging=none"});
    EXPECT_EQ(log_level(), LogLevel::error);  // ...which "none" leaves alone

    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--logging=verbose"}); }),
              "Option 'logging': 'verbose' is not one of debug|info|warning|error|none");
    EXPECT_EQ(parser.get<std::string>("logging"), "none");
}

// --log_file_prefix sends the lines to the file (and, with --log_to_stderr,
// to stderr as well); a bad rotation mode is an option error.
TEST_F(LoggingOptionTest, LogFilePrefixWritesToTheFile) {
    std::string file = (std::filesystem::temp_directory_path() /
                        ("tornado_options_log_" + std::to_string(::getpid()) + ".log"))
                           .string();
    std::filesystem::remove(file);
    OptionParser parser;
    define_logging_options(parser);
    LogHandler before = set_log_handler(LogHandler());
    parser.parse_command_line({"prog", "--log_file_prefix=" + file, "--log_rotate_mode=time",
                               "--log_rotate_when=H"});
    app_log.warning("to the file, {}", 42);
    set_log_handler(std::move(before));
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    EXPECT_TRUE(line.starts_with("[W ")) << line;
    EXPECT_TRUE(line.ends_with("to the file, 42")) << line;
    std::filesystem::remove(file);

    EXPECT_EQ(error_of([&] { parser.parse_command_line({"prog", "--log_file_prefix=" + file,
                                                        "--log_rotate_mode=weekly"}); }),
              "The value of log_rotate_mode option should be \"size\" or \"time\", not 'weekly'.");
    EXPECT_TRUE(error_of([&] {
                    parser.parse_command_line({"prog", "--log_file_prefix=/no/such/dir/x.log",
                                               "--log_rotate_mode=size"});
                }).starts_with("Option 'log_file_prefix': cannot open log file /no/such/dir/x.log"));
    std::filesystem::remove(file);
}

}  // namespace
}  // namespace tornado
