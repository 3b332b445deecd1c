// static_file_cache.cpp: see static_file_cache.h.
#include "web/static_file_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace tornado::detail {

std::int64_t changed_ns(const struct stat& status) noexcept {
    auto nanoseconds = [](const timespec& time) {
        return static_cast<std::int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
    };
    return std::max(nanoseconds(status.st_mtim), nanoseconds(status.st_ctim));
}

PathStatus stat_path(const std::string& path) {
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0) return {};
    if (S_ISDIR(status.st_mode)) return {PathKind::directory};
    if (!S_ISREG(status.st_mode)) return {PathKind::other};
    return {PathKind::regular_file, static_cast<std::int64_t>(status.st_size), changed_ns(status),
            status.st_mtim.tv_sec};
}

// The turn is told by the loop and its turn_time(), which each wait's
// return sets anew. Only what is there is kept: a handler may make a
// missing file and look again in the same turn (nginx's open_file_cache
// keeps no lookup errors either, by default), and a flood of requests for
// missing paths keeps nothing. At most max_entries paths are kept: past
// that, those seen are forgotten rather than kept in order.
PathStatus StaticFileCache::look_at(const std::string& path) {
    const IOLoop* loop = IOLoop::running_loop();
    if (loop == nullptr) return stat_path(path);
    auto found = seen_.find(path);
    if (found != seen_.end() && found->second.loop == loop &&
        found->second.turn == loop->turn_time()) {
        return found->second.status;
    }
    PathStatus status = stat_path(path);
    if (status.kind == PathKind::missing) return status;  // never kept: see above
    if (found == seen_.end()) {
        if (seen_.size() >= limits_.max_entries) seen_.clear();
        found = seen_.emplace(path, Seen{}).first;
    }
    found->second = Seen{status, loop, loop->turn_time()};
    return status;
}

// Whether a file changed this recently may still change within the same
// timestamp tick: then it is not kept.
bool StaticFileCache::changed_lately(const FileStamp& stamp) const {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::nanoseconds(now).count() - stamp.changed_ns < limits_.settle_time.count();
}

OpenFile::OpenFile(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}

OpenFile::~OpenFile() {
    if (fd_ >= 0) ::close(fd_);
}

StaticFileCache& StaticFileCache::for_this_thread() {
    thread_local StaticFileCache cache;
    return cache;
}

std::shared_ptr<const CachedFile> StaticFileCache::get(const std::string& path,
                                                       const FileStamp& seen) {
    auto found = by_path_.find(path);
    if (found != by_path_.end()) {
        if (found->second.content->stamp == seen) {
            ++hits_;
            order_.splice(order_.begin(), order_, found->second.in_order);
            return found->second.content;
        }
        forget(found);  // the file changed, or is another file now
    }
    ++misses_;
    std::shared_ptr<const CachedFile> content = load(path);
    if (content && content->stamp == seen && !changed_lately(seen)) keep(path, content);
    return content;
}

// The stamp comes from fstat on the descriptor the bytes are read from, so
// it describes these bytes, whatever the path names by now.
std::shared_ptr<const CachedFile> StaticFileCache::load(const std::string& path) const {
    auto file = std::make_shared<OpenFile>(path);
    struct stat status {};
    if (file->fd() < 0 || ::fstat(file->fd(), &status) != 0) return nullptr;
    auto content = std::make_shared<CachedFile>();
    content->path = path;
    content->stamp = {static_cast<std::int64_t>(status.st_size), changed_ns(status)};
    if (static_cast<std::size_t>(status.st_size) > limits_.max_file_bytes) {
        content->file = std::move(file);
        return content;
    }
    std::string bytes(static_cast<std::size_t>(status.st_size), '\0');
    std::size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n =
            ::pread(file->fd(), bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // shrank while read: what there is, under a stamp that no longer fits
        got += static_cast<std::size_t>(n);
    }
    if (got != bytes.size()) {
        bytes.resize(got);
        content->stamp.changed_ns = -1;  // matches no stat: served once, never kept
    }
    content->bytes = std::make_shared<const std::string>(std::move(bytes));
    return content;
}

void StaticFileCache::keep(const std::string& path, std::shared_ptr<const CachedFile> content) {
    order_.push_front(path);
    if (content->bytes) bytes_ += content->bytes->size();
    if (content->file) ++descriptors_;
    by_path_[path] = Slot{std::move(content), order_.begin()};
    evict_past_bounds();
}

void StaticFileCache::forget(std::unordered_map<std::string, Slot>::iterator slot) noexcept {
    const CachedFile& content = *slot->second.content;
    if (content.bytes) bytes_ -= content.bytes->size();
    if (content.file) --descriptors_;
    order_.erase(slot->second.in_order);
    by_path_.erase(slot);
}

// Past the count of entries, the least recently used goes; past the
// bytes or the descriptors, the least recently used that holds some. A
// request that is sending an entry holds it (a shared_ptr): evicted, it
// lives on until that request ends.
void StaticFileCache::evict_past_bounds() noexcept {
    while (by_path_.size() > limits_.max_entries) forget(by_path_.find(order_.back()));
    auto newer = order_.end();
    while (newer != order_.begin() &&
           (bytes_ > limits_.max_bytes || descriptors_ > limits_.max_descriptors)) {
        auto slot = by_path_.find(*std::prev(newer));
        const CachedFile& content = *slot->second.content;
        if ((bytes_ > limits_.max_bytes && content.bytes) ||
            (descriptors_ > limits_.max_descriptors && content.file)) {
            forget(slot);  // `newer` stays valid: only the entry before it goes
        } else {
            --newer;
        }
    }
}

void StaticFileCache::clear() noexcept {
    seen_.clear();
    by_path_.clear();
    order_.clear();
    bytes_ = 0;
    descriptors_ = 0;
}

}  // namespace tornado::detail
