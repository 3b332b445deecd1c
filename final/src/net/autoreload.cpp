// autoreload.cpp: tornado/autoreload.h (Tornado's autoreload.py).
//
// One FileWatcher per use: start() has one for the running program, main()
// one for its child. Each check stats every file; a changed file must look
// the same at the next check before it counts (see tornado/autoreload.h),
// so a change is acted on one to two check_times after it happened.
#include "tornado/autoreload.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/process.h"

namespace tornado::autoreload {

namespace {

// What a stat says of a file; two equal ones mean no change seen. Size
// too: a binary being written changes size more often than its mtime's
// second.
struct FileVersion {
    std::int64_t modified_ns = 0;
    std::int64_t size = 0;
    bool operator==(const FileVersion&) const = default;
};

std::optional<FileVersion> stat_file(const std::string& path) {
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0) return std::nullopt;
    return FileVersion{
        static_cast<std::int64_t>(status.st_mtim.tv_sec) * 1'000'000'000 + status.st_mtim.tv_nsec,
        static_cast<std::int64_t>(status.st_size)};
}

// Remembers each file's version at the last check, and a change waiting
// for the next check to confirm it.
class FileWatcher {
public:
    // True once a file has changed and then stayed as it is for one check.
    bool changed(const std::set<std::string>& paths) {
        bool settled_change = false;
        for (const std::string& path : paths) {
            std::optional<FileVersion> now = stat_file(path);
            if (!now) continue;  // missing (or being replaced): look again next time
            auto seen = versions_.find(path);
            if (seen == versions_.end()) {
                versions_[path] = *now;  // the first sighting is the baseline
                continue;
            }
            if (seen->second == *now) {
                if (pending_.erase(path) > 0) {
                    gen_log.info("{} modified; restarting", path);
                    settled_change = true;
                }
                continue;
            }
            seen->second = *now;
            pending_.insert(path);
        }
        return settled_change;
    }
    // After a restart of a child: the new versions are the baseline.
    void forget() {
        versions_.clear();
        pending_.clear();
    }

private:
    std::map<std::string, FileVersion> versions_;
    std::set<std::string> pending_;
};

// The watch list and hooks of this process (Tornado's module globals).
struct Registry {
    std::set<std::string> watched;
    std::vector<std::function<void()>> hooks;
    // Where start() runs. Known by address: a loop destroyed and another
    // made at the same address would be taken for the first, and not be
    // watched. A program that autoreload restarts has one loop for its
    // life, so this stays simple.
    std::set<IOLoop*> loops;
    // Kept so that the loops' callbacks can reach them.
    std::vector<std::unique_ptr<PeriodicCallback>> checkers;
    std::optional<FileWatcher> watcher;
    bool reload_attempted = false;
};

Registry& registry() {
    static Registry instance;
    return instance;
}

// This program's executable, read when start() is first called: once the
// file is rebuilt, /proc/self/exe names the deleted old one.
std::string executable_path() {
    std::string path(4096, '\0');
    ssize_t length = ::readlink("/proc/self/exe", path.data(), path.size());
    if (length <= 0) return {};
    path.resize(static_cast<std::size_t>(length));
    return path;
}

// The arguments this process was started with, from the kernel (main's
// argv is not within reach of a library).
std::vector<std::string> own_arguments() {
    std::ifstream file("/proc/self/cmdline", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    std::vector<std::string> arguments;
    std::size_t start = 0;
    while (start < all.size()) {
        std::size_t end = all.find('\0', start);
        if (end == std::string::npos) end = all.size();
        arguments.push_back(all.substr(start, end - start));
        start = end + 1;
    }
    return arguments;
}

std::string& executable() {
    static std::string path;
    return path;
}

// Tornado's _reload: the hooks, then exec. An exec that fails (the new
// binary is broken) is logged, and the program goes on as it is, watching
// for the next change.
void reload() {
    Registry& state = registry();
    state.reload_attempted = true;
    for (const auto& hook : state.hooks) hook();
    std::vector<std::string> arguments = own_arguments();
    std::vector<char*> pointers;
    for (std::string& argument : arguments) pointers.push_back(argument.data());
    pointers.push_back(nullptr);
    ::execv(executable().c_str(), pointers.data());
    gen_log.error("autoreload: cannot exec {}: {}", executable(), std::strerror(errno));
    state.reload_attempted = false;
}

std::set<std::string> watched_paths() {
    std::set<std::string> paths = registry().watched;
    if (!executable().empty()) paths.insert(executable());
    return paths;
}

void check_for_changes() {
    Registry& state = registry();
    if (state.reload_attempted || task_id()) return;
    if (state.watcher->changed(watched_paths())) reload();
}

}  // namespace

void start(std::chrono::milliseconds check_time) {
    Registry& state = registry();
    IOLoop& loop = IOLoop::current();
    if (!state.loops.insert(&loop).second) return;
    if (state.loops.size() > 1)
        gen_log.warning("tornado.autoreload started more than once in the same process");
    if (executable().empty()) executable() = executable_path();
    if (!state.watcher) state.watcher.emplace();
    state.watcher->changed(watched_paths());  // the baselines, before anything can change
    auto checker = std::make_unique<PeriodicCallback>(check_for_changes, check_time);
    checker->start();
    state.checkers.push_back(std::move(checker));
}

void wait() {
    IOLoop loop;
    loop.add_callback([] { start(); });
    loop.start();
}

void watch(std::string filename) { registry().watched.insert(std::move(filename)); }

void add_reload_hook(std::function<void()> hook) { registry().hooks.push_back(std::move(hook)); }

// --- main: the wrapper -------------------------------------------------------------------

namespace {

// The file a program name runs: itself if it holds a '/', else the first
// executable of that name in PATH (empty: none, and only the watched
// files restart it).
std::string find_program(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    const char* path = std::getenv("PATH");
    std::string_view directories = path ? path : "/usr/local/bin:/usr/bin:/bin";
    while (!directories.empty()) {
        std::size_t colon = directories.find(':');
        std::string directory(directories.substr(0, colon));
        directories.remove_prefix(colon == std::string_view::npos ? directories.size() : colon + 1);
        std::string candidate = (directory.empty() ? "." : directory) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

// The child and what the wrapper does with it. A restart stops the child
// with SIGTERM and starts the new one once the old one has exited, so the
// two never hold the same port.
class Supervisor {
public:
    Supervisor(std::vector<std::string> command, std::set<std::string> watched)
        : command_(std::move(command)), watched_(std::move(watched)) {
        std::string program = find_program(command_[0]);
        if (!program.empty()) watched_.insert(program);
    }

    // A program that cannot be started (a broken build) is logged, and the
    // next change tries again.
    void start_child() {
        watcher_.forget();
        watcher_.changed(watched_);
        child_.reset();
        try {
            child_.emplace(command_);
        } catch (const std::exception& error) {
            gen_log.error("autoreload: {}; waiting for a change", error.what());
            return;
        }
        gen_log.info("autoreload: started {} (pid {})", command_[0], child_->pid());
        child_->set_exit_callback([this](int returncode) { child_exited(returncode); });
    }

    void check() {
        if (!watcher_.changed(watched_)) return;
        if (child_ && !child_->returncode()) {
            restart_on_exit_ = true;
            ::kill(child_->pid(), SIGTERM);
        } else {
            start_child();
        }
    }

    void stop(IOLoop& loop) {
        stopping_ = true;
        if (child_ && !child_->returncode()) {
            ::kill(child_->pid(), SIGTERM);
        } else {
            loop.stop();
        }
    }

private:
    void child_exited(int returncode) {
        if (stopping_) {
            IOLoop::current().stop();
        } else if (restart_on_exit_) {
            restart_on_exit_ = false;
            start_child();
        } else {
            // Tornado's wrapper does the same after the script ends.
            gen_log.info("autoreload: {} exited with {}; waiting for a change", command_[0],
                         returncode);
        }
    }

    std::vector<std::string> command_;
    std::set<std::string> watched_;
    FileWatcher watcher_;
    std::optional<Subprocess> child_;
    bool restart_on_exit_ = false;
    bool stopping_ = false;
};

}  // namespace

int main(int argc, char** argv) {
    std::set<std::string> watched;
    int first = 1;
    for (; first < argc && std::string_view(argv[first]).starts_with("--watch="); ++first) {
        watched.insert(std::string(argv[first] + 8));
    }
    if (first >= argc) {
        std::fprintf(stderr, "usage: %s [--watch=FILE ...] PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    IOLoop loop;
    Supervisor supervisor(std::vector<std::string>(argv + first, argv + argc), watched);
    supervisor.start_child();
    PeriodicCallback checker([&] { supervisor.check(); }, std::chrono::milliseconds(500));
    checker.start();
    loop.add_signal_handler(SIGINT, [&] { supervisor.stop(loop); });
    loop.add_signal_handler(SIGTERM, [&] { supervisor.stop(loop); });
    loop.start();
    return 0;
}

}  // namespace tornado::autoreload
