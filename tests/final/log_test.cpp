// Tests of tornado/log.h: Tornado's line format, levels, loggers, the
// access-log line, and that a disabled level formats nothing.
#include "tornado/log.h"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.h"

namespace tornado {
namespace {

using testing::LogCapture;

// Whether `text` matches `pattern`, where each '#' stands for one digit.
bool matches(const std::string& text, const std::string& pattern) {
    if (text.size() != pattern.size()) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        bool ok = pattern[i] == '#' ? std::isdigit(static_cast<unsigned char>(text[i])) != 0
                                    : text[i] == pattern[i];
        if (!ok) return false;
    }
    return true;
}

// Counts how often it is formatted.
struct Expensive {
    int* formatted;
};
std::ostream& operator<<(std::ostream& out, const Expensive& value) {
    ++*value.formatted;
    return out << "expensive";
}

// Restores the root level and colour whatever a test does.
class LogTest : public ::testing::Test {
protected:
    void TearDown() override {
        set_log_level(LogLevel::info);
        gen_log.set_level(LogLevel{0});
        app_log.set_level(LogLevel{0});
    }
};

TEST_F(LogTest, LineLooksLikeTornados) {
    LogCapture capture;
    int line = __LINE__ + 1;
    app_log.info("hello {}", 42);
    auto lines = capture.lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].logger, "tornado.application");
    EXPECT_EQ(lines[0].module, "log_test");
    EXPECT_EQ(lines[0].line, static_cast<std::uint32_t>(line));
    EXPECT_EQ(lines[0].message, "hello 42");

    LogRecord record{LogLevel::info, "tornado.application", "web", 2243,
                     std::chrono::system_clock::now(), "200 GET / (127.0.0.1) 0.52ms"};
    std::string formatted = format_log_record(record);
    EXPECT_TRUE(matches(formatted, "[I ###### ##:##:## web:2243] 200 GET / (127.0.0.1) 0.52ms"))
        << formatted;
}

TEST_F(LogTest, LevelLettersAndColours) {
    LogRecord record{LogLevel::debug, "tornado.general", "ioloop", 1,
                     std::chrono::system_clock::now(), "m"};
    const std::pair<LogLevel, std::string> expected[] = {{LogLevel::debug, "[D "},
                                                         {LogLevel::info, "[I "},
                                                         {LogLevel::warning, "[W "},
                                                         {LogLevel::error, "[E "}};
    for (const auto& [level, prefix] : expected) {
        record.level = level;
        EXPECT_EQ(format_log_record(record).substr(0, 3), prefix);
    }
    record.level = LogLevel::info;
    std::string coloured = format_log_record(record, true);
    EXPECT_EQ(coloured.rfind("\033[2;32m[I ", 0), 0u) << coloured;
    EXPECT_NE(coloured.find("]\033[0m m"), std::string::npos) << coloured;
    record.level = LogLevel::error;
    EXPECT_EQ(format_log_record(record, true).rfind("\033[2;31m[E ", 0), 0u);
}

TEST_F(LogTest, LaterLinesOfAMessageAreIndented) {
    LogRecord record{LogLevel::error, "tornado.application", "web", 7,
                     std::chrono::system_clock::now(), "first\nsecond\n"};
    std::string formatted = format_log_record(record);
    EXPECT_NE(formatted.find("] first\n    second"), std::string::npos) << formatted;
    EXPECT_NE(formatted.back(), '\n');
}

TEST_F(LogTest, DisabledLevelFormatsNothing) {
    LogCapture capture;
    int formatted = 0;
    gen_log.debug("value {}", Expensive{&formatted});
    EXPECT_EQ(formatted, 0);
    EXPECT_TRUE(capture.lines().empty());
    EXPECT_FALSE(gen_log.enabled(LogLevel::debug));

    set_log_level(LogLevel::debug);
    gen_log.debug("value {}", Expensive{&formatted});
    EXPECT_EQ(formatted, 1);
    ASSERT_EQ(capture.lines().size(), 1u);
    EXPECT_EQ(capture.lines()[0].message, "value expensive");
}

TEST_F(LogTest, LoggerLevelOverridesTheRootLevel) {
    LogCapture capture;
    gen_log.set_level(LogLevel::error);
    gen_log.warning("quiet");
    app_log.warning("loud");
    gen_log.error("also loud");
    auto lines = capture.lines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].message, "loud");
    EXPECT_EQ(lines[1].message, "also loud");
    set_log_level(LogLevel::none);
    app_log.error("silenced");
    EXPECT_EQ(capture.lines().size(), 2u);
}

TEST_F(LogTest, PlaceholdersFillInOrder) {
    EXPECT_EQ(format("{} + {} = {}", 1, 2.5, "3.5"), "1 + 2.5 = 3.5");
    EXPECT_EQ(format("{{literal}} {}", true), "{literal} true");
    EXPECT_EQ(format("{:.2f}ms", 0.5234), "0.52ms");
    EXPECT_EQ(format("{} and {}", 'x'), "x and {}");
    EXPECT_EQ(format("{}", std::string("text")), "text");
    EXPECT_EQ(format("{}", -7L), "-7");
    EXPECT_EQ(format("{}", static_cast<const void*>(nullptr)), "nullptr");
}

TEST_F(LogTest, AccessLogLineAndLevelByStatus) {
    LogCapture capture;
    int line = __LINE__ + 1;
    log_request(200, "GET", "/", "127.0.0.1", 0.00052);
    log_request(404, "GET", "/missing?x=1", "10.0.0.2", 0.0015);
    log_request(503, "POST", "/form", "::1", 1.25);
    auto lines = capture.lines();
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0].logger, "tornado.access");
    EXPECT_EQ(lines[0].message, "200 GET / (127.0.0.1) 0.52ms");
    EXPECT_EQ(lines[0].level, LogLevel::info);
    EXPECT_EQ(lines[0].module, "log_test");
    EXPECT_EQ(lines[0].line, static_cast<std::uint32_t>(line));
    EXPECT_EQ(lines[1].message, "404 GET /missing?x=1 (10.0.0.2) 1.50ms");
    EXPECT_EQ(lines[1].level, LogLevel::warning);
    EXPECT_EQ(lines[2].message, "503 POST /form (::1) 1250.00ms");
    EXPECT_EQ(lines[2].level, LogLevel::error);
}

TEST_F(LogTest, ParsesLevelNames) {
    EXPECT_EQ(parse_log_level("debug"), LogLevel::debug);
    EXPECT_EQ(parse_log_level("WARNING"), LogLevel::warning);
    EXPECT_EQ(parse_log_level("none"), LogLevel::none);
    EXPECT_THROW(parse_log_level("verbose"), std::invalid_argument);
}

TEST_F(LogTest, DescribesExceptions) {
    EXPECT_EQ(describe_exception(std::make_exception_ptr(std::runtime_error("boom"))),
              "std::runtime_error: boom");
    EXPECT_EQ(describe_exception(std::make_exception_ptr(42)),
              "unknown exception (not derived from std::exception)");
}

TEST_F(LogTest, DefaultHandlerWritesOneLineToStderr) {
    set_log_color(false);
    ::testing::internal::CaptureStderr();
    gen_log.warning("to stderr {}", 1);
    std::string written = ::testing::internal::GetCapturedStderr();
    int line = __LINE__ - 2;
    EXPECT_TRUE(matches(written, "[W ###### ##:##:## log_test:" + std::to_string(line) +
                                     "] to stderr 1\n"))
        << written;
}

}  // namespace
}  // namespace tornado
