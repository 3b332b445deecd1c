// Tests of the static file cache (final/src/web/static_file_cache.h) on
// its own: kept, used while the stamp holds, dropped when it does not,
// bounded in entries, bytes and descriptors; a path's stat kept for one
// turn of the loop.
#include "web/static_file_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tornado/gen.h"
#include "tornado/ioloop.h"

namespace {

using tornado::detail::FileStamp;
using tornado::detail::PathKind;
using tornado::detail::StaticFileCache;

class StaticFileCacheTest : public ::testing::Test {
protected:
    void SetUp() override {
        folder_ = std::filesystem::temp_directory_path() /
                  ("tornado_file_cache_" + std::to_string(::getpid()));
        std::filesystem::create_directories(folder_);
    }
    void TearDown() override { std::filesystem::remove_all(folder_); }

    std::string write(const std::string& name, const std::string& content) {
        std::string path = (folder_ / name).string();
        std::ofstream(path, std::ios::binary) << content;
        return path;
    }
    // What the handler's stat of the path gives.
    static FileStamp stamp_of(const std::string& path) {
        struct stat status {};
        EXPECT_EQ(::stat(path.c_str(), &status), 0) << path;
        return {static_cast<std::int64_t>(status.st_size), tornado::detail::changed_ns(status)};
    }
    // With no settle time, a change within the file system's timestamp
    // tick (a few ms) could leave the stamp as it was: a test waits it out
    // before it changes a kept file, as the settle time would.
    static void wait_a_tick() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }
    // A cache that keeps files at once (no settle time).
    static StaticFileCache::Limits quick_limits() {
        StaticFileCache::Limits limits;
        limits.settle_time = std::chrono::nanoseconds(0);
        return limits;
    }

    std::filesystem::path folder_;
};

TEST_F(StaticFileCacheTest, ASecondRequestIsServedFromTheKeptBytes) {
    StaticFileCache cache(quick_limits());
    std::string path = write("a.txt", "hello");
    auto first = cache.get(path, stamp_of(path));
    auto second = cache.get(path, stamp_of(path));
    ASSERT_TRUE(first && second);
    EXPECT_EQ(*second->bytes, "hello");
    EXPECT_EQ(first, second);
    EXPECT_EQ(cache.hits(), 1u);
    EXPECT_EQ(cache.misses(), 1u);
    EXPECT_EQ(cache.bytes(), 5u);
}

TEST_F(StaticFileCacheTest, AFileJustChangedIsServedButNotKept) {
    StaticFileCache cache;  // the default settle time: a second
    std::string path = write("fresh.txt", "still being written?");
    auto content = cache.get(path, stamp_of(path));
    ASSERT_TRUE(content);
    EXPECT_EQ(*content->bytes, "still being written?");
    EXPECT_EQ(cache.entries(), 0u);
}

TEST_F(StaticFileCacheTest, AStampThatDiffersReadsTheFileAgain) {
    StaticFileCache cache(quick_limits());
    std::string path = write("a.txt", "first");
    cache.get(path, stamp_of(path));
    wait_a_tick();
    write("a.txt", "other");  // the same size
    auto content = cache.get(path, stamp_of(path));
    ASSERT_TRUE(content);
    EXPECT_EQ(*content->bytes, "other");
    EXPECT_EQ(cache.hits(), 0u);
    EXPECT_EQ(cache.entries(), 1u);
}

TEST_F(StaticFileCacheTest, AFileReplacedWithItsOldTimeIsSeenByItsChangeTime) {
    // rsync -t and cp -p set mtime back; ctime they cannot.
    StaticFileCache cache(quick_limits());
    std::string path = write("a.txt", "first");
    struct stat before {};
    ::stat(path.c_str(), &before);
    cache.get(path, stamp_of(path));
    wait_a_tick();
    std::string replacement = write("new.txt", "other");
    timespec times[2] = {before.st_atim, before.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, replacement.c_str(), times, 0), 0);
    std::filesystem::rename(replacement, path);
    auto content = cache.get(path, stamp_of(path));
    ASSERT_TRUE(content);
    EXPECT_EQ(*content->bytes, "other");
}

TEST_F(StaticFileCacheTest, AMissingFileIsNull) {
    StaticFileCache cache(quick_limits());
    EXPECT_EQ(cache.get((folder_ / "none").string(), FileStamp{0, 0}), nullptr);
}

TEST_F(StaticFileCacheTest, ALargeFileKeepsItsDescriptorNotItsBytes) {
    StaticFileCache::Limits limits = quick_limits();
    limits.max_file_bytes = 10;
    StaticFileCache cache(limits);
    std::string path = write("big.bin", std::string(11, 'x'));
    auto content = cache.get(path, stamp_of(path));
    ASSERT_TRUE(content && content->file);
    EXPECT_EQ(content->bytes, nullptr);
    EXPECT_GE(content->file->fd(), 0);
    EXPECT_EQ(cache.get(path, stamp_of(path)), content);
    EXPECT_EQ(cache.bytes(), 0u);
}

TEST_F(StaticFileCacheTest, TheLeastRecentlyUsedGoesPastTheCount) {
    StaticFileCache::Limits limits = quick_limits();
    limits.max_entries = 2;
    StaticFileCache cache(limits);
    std::string a = write("a", "a"), b = write("b", "b"), c = write("c", "c");
    cache.get(a, stamp_of(a));
    cache.get(b, stamp_of(b));
    cache.get(a, stamp_of(a));  // a is now the more recent
    cache.get(c, stamp_of(c));  // b goes
    EXPECT_EQ(cache.entries(), 2u);
    cache.get(a, stamp_of(a));
    cache.get(c, stamp_of(c));
    EXPECT_EQ(cache.hits(), 3u);
    cache.get(b, stamp_of(b));
    EXPECT_EQ(cache.misses(), 4u);
}

TEST_F(StaticFileCacheTest, BytesAndDescriptorsAreBoundedEachByItsOwnLimit) {
    StaticFileCache::Limits limits = quick_limits();
    limits.max_bytes = 10;
    limits.max_file_bytes = 6;
    limits.max_descriptors = 1;
    StaticFileCache cache(limits);
    std::string big1 = write("big1", std::string(7, '1'));
    std::string small1 = write("small1", std::string(6, 's'));
    std::string big2 = write("big2", std::string(7, '2'));
    std::string small2 = write("small2", std::string(6, 't'));
    cache.get(big1, stamp_of(big1));
    cache.get(small1, stamp_of(small1));
    cache.get(big2, stamp_of(big2));      // one descriptor too many: big1 goes, small1 stays
    cache.get(small2, stamp_of(small2));  // twelve bytes: small1 goes, big2 stays
    EXPECT_EQ(cache.entries(), 2u);
    EXPECT_EQ(cache.bytes(), 6u);
    std::uint64_t hits = cache.hits();
    cache.get(big2, stamp_of(big2));
    cache.get(small2, stamp_of(small2));
    EXPECT_EQ(cache.hits(), hits + 2);
}

TEST_F(StaticFileCacheTest, AnEvictedEntryLivesOnWhileARequestHoldsIt) {
    StaticFileCache::Limits limits = quick_limits();
    limits.max_entries = 1;
    StaticFileCache cache(limits);
    std::string a = write("a", "aaaa"), b = write("b", "b");
    auto held = cache.get(a, stamp_of(a));
    cache.get(b, stamp_of(b));
    EXPECT_EQ(*held->bytes, "aaaa");
}

// --- a path's stat, kept for the loop's turn (look_at) ---------------------------

TEST_F(StaticFileCacheTest, OutsideALoopEveryLookStatsThePath) {
    StaticFileCache cache;
    std::string path = write("a.txt", "hello");
    EXPECT_EQ(cache.look_at(path).kind, PathKind::regular_file);
    std::filesystem::remove(path);
    EXPECT_EQ(cache.look_at(path).kind, PathKind::missing);
}

// Within a turn, the first stat holds; once a wait has returned (the
// sleep's), the path is looked at again.
TEST_F(StaticFileCacheTest, InALoopAStatHoldsUntilTheNextWaitReturns) {
    StaticFileCache cache;
    std::string path = write("a.txt", "hello");
    tornado::IOLoop loop;
    loop.run_sync([&]() -> tornado::Task<void> {
        EXPECT_EQ(cache.look_at(path).size, 5);
        std::filesystem::remove(path);
        EXPECT_EQ(cache.look_at(path).kind, PathKind::regular_file);  // this turn's
        co_await tornado::sleep(std::chrono::milliseconds(1));
        EXPECT_EQ(cache.look_at(path).kind, PathKind::missing);
    });
}

// What is missing is looked at again, in the same turn too: a handler may
// make the file and ask again.
TEST_F(StaticFileCacheTest, AMissingPathIsLookedAtAgainInTheSameTurn) {
    StaticFileCache cache;
    std::string path = (folder_ / "later.txt").string();
    tornado::IOLoop loop;
    loop.run_sync([&] {
        EXPECT_EQ(cache.look_at(path).kind, PathKind::missing);
        write("later.txt", "here now");
        EXPECT_EQ(cache.look_at(path).size, 8);
    });
}

// A run that stops in its last turn's events has no wait after them: the
// next run must not count as that turn.
TEST_F(StaticFileCacheTest, EachRunOfTheLoopBeginsATurn) {
    StaticFileCache cache;
    std::string path = write("a.txt", "hello");
    tornado::IOLoop loop;
    int pipe_ends[2];
    ASSERT_EQ(::pipe(pipe_ends), 0);
    loop.add_handler(
        pipe_ends[0],
        [&](int, std::uint32_t) {
            EXPECT_EQ(cache.look_at(path).kind, PathKind::regular_file);
            loop.stop();
        },
        tornado::IOLoop::READ);
    ASSERT_EQ(::write(pipe_ends[1], "x", 1), 1);
    loop.start();
    loop.remove_handler(pipe_ends[0]);
    std::filesystem::remove(path);
    loop.run_sync([&] { EXPECT_EQ(cache.look_at(path).kind, PathKind::missing); });
    ::close(pipe_ends[0]);
    ::close(pipe_ends[1]);
}

// Past max_entries paths in one turn, those seen are forgotten (and looked
// at again), so a scan of many paths holds no more than the bound.
TEST_F(StaticFileCacheTest, TheStatsOfATurnAreBoundedInPaths) {
    StaticFileCache::Limits limits;
    limits.max_entries = 1;
    StaticFileCache cache(limits);
    std::string a = write("a", "a"), b = write("b", "b");
    tornado::IOLoop loop;
    loop.run_sync([&] {
        EXPECT_EQ(cache.look_at(a).kind, PathKind::regular_file);
        EXPECT_EQ(cache.look_at(b).kind, PathKind::regular_file);  // a is forgotten
        std::filesystem::remove(a);
        EXPECT_EQ(cache.look_at(a).kind, PathKind::missing);
    });
}

}  // namespace
