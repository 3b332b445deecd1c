// Tests of the rotating log file (final/src/core/log_file.cpp,
// make_file_log_handler in tornado/log.h): what --log_file_prefix and its
// options give, rotation by size and by time as Python's logging.handlers
// names the backups, and settings that cannot work refused by name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "tornado/log.h"

namespace tornado {
namespace {

// A folder of its own for each test, removed at the end.
class LogFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        folder_ = std::filesystem::temp_directory_path() /
                  ("tornado_log_file_test_" + std::to_string(::getpid()) + "_" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(folder_);
        std::filesystem::create_directories(folder_);
    }
    void TearDown() override { std::filesystem::remove_all(folder_); }

    std::string path(const std::string& name = "app.log") const { return (folder_ / name).string(); }
    // The files in the folder, by name.
    std::vector<std::string> files() const {
        std::vector<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(folder_)) {
            names.push_back(entry.path().filename().string());
        }
        std::sort(names.begin(), names.end());
        return names;
    }
    static std::string contents(const std::string& file) {
        std::ifstream in(file);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    static LogRecord record(std::string_view message,
                            std::chrono::system_clock::time_point time = std::chrono::system_clock::now()) {
        return LogRecord{LogLevel::info, "tornado.application", "log_test", 7, time, message};
    }

    std::filesystem::path folder_;
};

// Python's RotatingFileHandler: a line that would take the file to
// max_size starts a new one; app.log.1 is the newest backup; the oldest
// beyond `backups` is gone.
TEST_F(LogFileTest, BySizeTheBackupsAreNumberedAndCapped) {
    LogFileOptions options;
    options.path = path();
    options.max_size = 200;
    options.backups = 2;
    LogHandler handler = make_file_log_handler(options);
    for (int i = 0; i < 12; ++i) handler(record("line " + std::to_string(i) + std::string(40, '.')));
    EXPECT_EQ(files(), (std::vector<std::string>{"app.log", "app.log.1", "app.log.2"}));
    for (const std::string& name : files()) {
        EXPECT_LT(std::filesystem::file_size(folder_ / name), 200u) << name;
    }
    std::string newest = contents(path());
    EXPECT_NE(newest.find("line 11."), std::string::npos) << newest;
    EXPECT_TRUE(newest.starts_with("[I ")) << newest;  // Tornado's format, no colour codes
    EXPECT_EQ(newest.find("\x1b"), std::string::npos);
    EXPECT_NE(contents(path("app.log.1")).find("line "), std::string::npos);
}

// TimedRotatingFileHandler with when=S: a line a period later renames the
// file after the period's start ("app.log.2026-11-23_10-00-00"), and only
// the newest `backups` of those stay.
TEST_F(LogFileTest, ByTimeTheBackupsAreDatedAndCapped) {
    LogFileOptions options;
    options.path = path();
    options.rotate = LogFileOptions::Rotate::time;
    options.when = "s";
    options.interval = 2;
    options.backups = 2;
    LogHandler handler = make_file_log_handler(options);
    auto now = std::chrono::system_clock::now();
    handler(record("first", now));
    for (int step = 1; step <= 4; ++step) {
        handler(record("after " + std::to_string(step * 3) + " s", now + std::chrono::seconds(step * 3)));
    }
    std::vector<std::string> names = files();
    ASSERT_EQ(names.size(), 3u) << ::testing::PrintToString(names);
    EXPECT_EQ(names[0], "app.log");
    for (const std::string& dated : {names[1], names[2]}) {
        EXPECT_EQ(dated.size(), std::string("app.log.2026-11-23_10-00-00").size()) << dated;
        EXPECT_TRUE(dated.starts_with("app.log.2")) << dated;
    }
    EXPECT_NE(contents(path()).find("after 12 s"), std::string::npos);
    EXPECT_EQ(contents(path()).find("first"), std::string::npos);
}

// when=midnight: the first line of the next day moves today's lines to
// app.log.<today's date>.
TEST_F(LogFileTest, AtMidnightTheFileIsNamedAfterItsDay) {
    LogFileOptions options;
    options.path = path();
    options.rotate = LogFileOptions::Rotate::time;
    LogHandler handler = make_file_log_handler(options);
    auto now = std::chrono::system_clock::now();
    handler(record("today", now));
    handler(record("tomorrow", now + std::chrono::hours(24)));
    std::time_t today = std::chrono::system_clock::to_time_t(now);
    std::tm parts{};
    localtime_r(&today, &parts);
    char date[16];
    std::strftime(date, sizeof date, "%Y-%m-%d", &parts);
    EXPECT_EQ(files(), (std::vector<std::string>{"app.log", std::string("app.log.") + date}));
    EXPECT_NE(contents(path(std::string("app.log.") + date)).find("today"), std::string::npos);
    EXPECT_NE(contents(path()).find("tomorrow"), std::string::npos);
}

TEST_F(LogFileTest, BadSettingsAreErrorsThatNameThem) {
    LogFileOptions options;
    options.path = path("no/such/folder/app.log");
    try {
        make_file_log_handler(options);
        FAIL() << "opened a file in a folder that does not exist";
    } catch (const std::system_error& error) {
        EXPECT_NE(std::string(error.what()).find("no/such/folder/app.log"), std::string::npos)
            << error.what();
    }
    options.path = path();
    options.rotate = LogFileOptions::Rotate::time;
    options.when = "fortnightly";
    EXPECT_THROW(make_file_log_handler(options), std::invalid_argument);
}

}  // namespace
}  // namespace tornado
