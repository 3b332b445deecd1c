// static_file_cache.h: the files StaticFileHandler serves, kept between
// requests (not installed; web_static.cpp's). Tornado opens, reads and
// closes a static file on every request; nginx (open_file_cache) and h2o
// keep them. Here a small file's bytes are kept, and a large file's open
// descriptor, shared by every request, stream and connection of the
// loop's thread.
//
// Never stale for a request: the handler stats the path for every request
// anyway (is it there? a file? inside the root?), and an entry is used
// only when that stat's size and change time are the entry's. One stat()
// serves a whole turn of the loop (look_at), as h2o keeps an open file for
// one turn of its own: a hundred streams asking for a file in one batch of
// frames cost one stat(). That stat is still made after the request
// arrived, so a change made before a client sent its request is always
// seen by that request (static_url, which a handler may call right after
// writing the file, stats every time). The change time is the later of
// the file's mtime and ctime: ctime moves on every change to the file, a
// rename over it included, and no program can set it back (cp -p and rsync
// can set mtime back). A file changed less than a second before it was
// read is served but not kept: within the file system's timestamp tick, a
// second write of the same size would leave the stamp as it was (git's
// "racy" files).
//
// Bounded (Limits): at most 1,024 files, 32 MiB of kept bytes and 64 open
// large files; past a bound, the least recently used entry goes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "tornado/ioloop.h"

struct stat;

namespace tornado::detail {

// What one stat() tells of a path: whether anything is there, and whether
// it is a regular file (the only kind the handler streams), a folder, or
// something else (a device, a socket). stat() follows symlinks, as
// Python's os.path.isfile does.
enum class PathKind : std::uint8_t { missing, regular_file, directory, other };

struct PathStatus {
    PathKind kind = PathKind::missing;
    // For a regular file. changed_ns is for noticing a change to the file
    // (see changed_ns() below); modified (whole seconds, the mtime) is for
    // Last-Modified and If-Modified-Since, which HTTP dates can only say to
    // the second.
    std::int64_t size = 0;
    std::int64_t changed_ns = 0;
    std::time_t modified = 0;
};

// The later of a file's mtime and ctime, in nanoseconds: what changes
// whenever the file does (see above).
std::int64_t changed_ns(const struct stat& status) noexcept;

// What stat() says of `path` now.
PathStatus stat_path(const std::string& path);

// A file's size and change time, as one stat() saw them.
struct FileStamp {
    std::int64_t size = 0;
    std::int64_t changed_ns = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

// An open file's descriptor, closed with the last copy.
class OpenFile {
public:
    explicit OpenFile(const std::string& path);
    ~OpenFile();
    OpenFile(const OpenFile&) = delete;
    OpenFile& operator=(const OpenFile&) = delete;
    int fd() const noexcept { return fd_; }

private:
    int fd_;
};

// One file's content: its bytes when small, else its open descriptor.
struct CachedFile {
    std::string path;  // to name it in an error
    FileStamp stamp;
    std::shared_ptr<const std::string> bytes;  // files up to max_file_bytes
    std::shared_ptr<OpenFile> file;            // larger ones
};

class StaticFileCache {
public:
    struct Limits {
        std::size_t max_entries = 1024;
        std::size_t max_bytes = 32 * 1024 * 1024;  // of small files' bytes kept
        std::size_t max_file_bytes = 1024 * 1024;  // larger files: their descriptors
        std::size_t max_descriptors = 64;
        // A file changed within this long before it was read is not kept.
        std::chrono::nanoseconds settle_time = std::chrono::seconds(1);
    };

    explicit StaticFileCache(Limits limits) : limits_(limits) {}
    StaticFileCache() : StaticFileCache(Limits{}) {}
    // Changeable between requests (the tests do).
    Limits& limits() noexcept { return limits_; }

    // The cache of the calling thread (an Application runs on one loop's).
    static StaticFileCache& for_this_thread();

    // What stat() says of `path`, for a request being served. Inside a
    // running loop, what it said earlier in the same turn (from one wait's
    // return to the next's) of a path that was there: the requests that
    // turn handles all arrived before it began. A missing path, or outside
    // a loop, stat() every time.
    PathStatus look_at(const std::string& path);

    // The content of `path`, whose stat has just given `seen`: the kept
    // entry if its stamp is `seen`, else the file read (or opened) now,
    // and kept unless it changed within the last second or differs from
    // `seen` already. Null when the file cannot be opened.
    std::shared_ptr<const CachedFile> get(const std::string& path, const FileStamp& seen);

    std::size_t entries() const noexcept { return by_path_.size(); }
    std::size_t bytes() const noexcept { return bytes_; }
    std::uint64_t hits() const noexcept { return hits_; }
    std::uint64_t misses() const noexcept { return misses_; }
    void clear() noexcept;

private:
    // A path's stat, and the turn it was made in.
    struct Seen {
        PathStatus status;
        const IOLoop* loop = nullptr;
        IOLoop::Clock::time_point turn;
    };
    struct Slot {
        std::shared_ptr<const CachedFile> content;
        std::list<std::string>::iterator in_order;
    };
    std::shared_ptr<const CachedFile> load(const std::string& path) const;
    void keep(const std::string& path, std::shared_ptr<const CachedFile> content);
    void forget(std::unordered_map<std::string, Slot>::iterator slot) noexcept;
    void evict_past_bounds() noexcept;
    bool changed_lately(const FileStamp& stamp) const;

    Limits limits_;
    std::unordered_map<std::string, Slot> by_path_;
    std::unordered_map<std::string, Seen> seen_;  // at most max_entries paths
    std::list<std::string> order_;                // most recently used first
    std::size_t bytes_ = 0;
    std::size_t descriptors_ = 0;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
};

}  // namespace tornado::detail
