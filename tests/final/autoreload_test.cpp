// Tests of tornado/autoreload.h: a program restarted by exec when a file it
// watches changes (autoreload_probe), and the wrapper final_autoreload,
// which restarts its child. Both run as real processes: a restart replaces
// the whole program, which a test cannot do to itself.
#include "tornado/autoreload.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "tornado/gen.h"
#include "tornado/iostream.h"
#include "tornado/process.h"

namespace tornado {
namespace {

constexpr auto kTimeout = std::chrono::seconds(10);

class AutoreloadTest : public ::testing::Test {
protected:
    void SetUp() override {
        watched_ = std::filesystem::temp_directory_path() /
                   ("tornado_autoreload_" + std::to_string(::getpid()));
        still_ = watched_.string() + ".still";
        write(watched_, "one");
        write(still_, "never changes");
    }
    void TearDown() override {
        std::filesystem::remove(watched_);
        std::filesystem::remove(still_);
    }
    static void write(const std::filesystem::path& path, const std::string& content) {
        std::ofstream(path, std::ios::binary) << content;
    }
    // The next line the program prints, without its newline.
    std::string next_line(Subprocess& program) {
        std::string line = loop_.run_sync(
            [&]() -> Task<std::string> { co_return co_await program.stdout()->read_until("\n"); },
            kTimeout);
        line.pop_back();
        return line;
    }
    int stop(Subprocess& program) {
        ::kill(program.pid(), SIGTERM);
        return loop_.run_sync([&] { return program.wait_for_exit(false); }, kTimeout);
    }

    IOLoop loop_;
    std::filesystem::path watched_;
    std::filesystem::path still_;
};

TEST_F(AutoreloadTest, AChangedFileRunsTheHooksAndExecsTheProgramAgain) {
    Subprocess probe({AUTORELOAD_PROBE, watched_.string()}, {.stdout = Subprocess::STREAM});
    std::string ready = "ready " + std::to_string(probe.pid());
    ASSERT_EQ(next_line(probe), ready);
    write(watched_, "two, longer");
    EXPECT_EQ(next_line(probe), "hook");
    EXPECT_EQ(next_line(probe), ready);  // the same process, a new program
    write(watched_, "three, longer still");
    EXPECT_EQ(next_line(probe), "hook");
    EXPECT_EQ(next_line(probe), ready);
    EXPECT_EQ(stop(probe), -SIGTERM);
}

TEST_F(AutoreloadTest, TheWrapperRestartsItsChildAndStopsItWithItself) {
    Subprocess wrapper({AUTORELOAD_WRAPPER, "--watch=" + watched_.string(), AUTORELOAD_PROBE,
                        still_.string()},
                       {.stdout = Subprocess::STREAM, .stderr = Subprocess::DEVNULL});
    std::string first = next_line(wrapper);
    ASSERT_TRUE(first.starts_with("ready ")) << first;
    write(watched_, "two, longer");
    std::string second = next_line(wrapper);
    ASSERT_TRUE(second.starts_with("ready ")) << second;
    EXPECT_NE(first, second);  // a new child, not an exec of the old one
    EXPECT_EQ(stop(wrapper), 0);
    pid_t child = std::stoi(second.substr(6));
    EXPECT_NE(::kill(child, 0), 0);  // the child went with the wrapper
}

TEST(AutoreloadMain, WithoutAProgramItSaysHowToUseIt) {
    char name[] = "final_autoreload";
    char* argv[] = {name, nullptr};
    ::testing::internal::CaptureStderr();
    EXPECT_EQ(autoreload::main(1, argv), 2);
    EXPECT_NE(::testing::internal::GetCapturedStderr().find("usage:"), std::string::npos);
}

}  // namespace
}  // namespace tornado
