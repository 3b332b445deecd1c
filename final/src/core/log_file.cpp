// log_file.cpp: make_file_log_handler, the rotating log file behind
// --log_file_prefix (see tornado/log.h). It follows Python 3.11's
// RotatingFileHandler and TimedRotatingFileHandler, which Tornado's
// enable_pretty_logging sets up, so that files rotate with the same names
// at the same moments.
//
// The handler runs under the log's lock (log.cpp), so its state needs no
// lock of its own. Only one process may write a given file: two would
// rotate it under each other, as Tornado's help for --log_file_prefix warns.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <regex>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "core/text.h"
#include "tornado/log.h"
#include "tornado/util.h"

namespace tornado {

namespace {

using Clock = std::chrono::system_clock;

// How a time-rotated file is cut: the length of a period (seconds; a day
// for midnight and the weekdays), the strftime suffix of the renamed files,
// and the regex that recognises those suffixes when old ones are deleted.
struct TimeRule {
    std::int64_t period = 0;
    bool at_midnight = false;
    int weekday = -1;  // W0..W6: 0 is Monday, as Python counts
    const char* suffix = "";
    const char* suffix_pattern = "";
};

TimeRule time_rule(const std::string& when, int interval) {
    std::string unit = detail::lower_ascii(when);
    if (interval < 1) throw std::invalid_argument("log rotation interval must be 1 or more");
    constexpr const char* kDay = "%Y-%m-%d";
    constexpr const char* kDayPattern = R"(^\d{4}-\d{2}-\d{2}$)";
    if (unit == "s") {
        return {interval, false, -1, "%Y-%m-%d_%H-%M-%S",
                R"(^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$)"};
    }
    if (unit == "m") {
        return {60L * interval, false, -1, "%Y-%m-%d_%H-%M", R"(^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}$)"};
    }
    if (unit == "h") {
        return {3600L * interval, false, -1, "%Y-%m-%d_%H", R"(^\d{4}-\d{2}-\d{2}_\d{2}$)"};
    }
    if (unit == "d") return {86400L * interval, false, -1, kDay, kDayPattern};
    // Python 3.11 ignores the interval for midnight and the weekdays: one
    // day, or one week, whatever it says.
    if (unit == "midnight") return {86400, true, -1, kDay, kDayPattern};
    if (unit.size() == 2 && unit[0] == 'w' && unit[1] >= '0' && unit[1] <= '6') {
        return {7L * 86400, true, unit[1] - '0', kDay, kDayPattern};
    }
    throw std::invalid_argument("log rotation 'when' must be S, M, H, D, midnight or W0-W6, not '" +
                                when + "'");
}

std::tm local_time(std::time_t time) {
    std::tm parts{};
    localtime_r(&time, &parts);
    return parts;
}

// The next local midnight after `now`. For a weekday, Python's
// computeRollover: that midnight if today is the weekday, else the one
// (weekday - today) mod 7 days later, so always the midnight that ends the
// weekday.
std::time_t next_midnight(std::time_t now, int weekday) {
    std::tm parts = local_time(now);
    int today = (parts.tm_wday + 6) % 7;  // tm_wday counts from Sunday, Python from Monday
    parts.tm_hour = parts.tm_min = parts.tm_sec = 0;
    parts.tm_mday += 1;
    if (weekday >= 0 && today != weekday) parts.tm_mday += (weekday - today + 7) % 7;
    parts.tm_isdst = -1;  // let mktime find that day's offset from UTC
    return std::mktime(&parts);
}

class RotatingLogFile {
public:
    explicit RotatingLogFile(LogFileOptions options) : options_(std::move(options)) {
        if (options_.rotate == LogFileOptions::Rotate::time) {
            rule_ = time_rule(options_.when, options_.interval);
        }
        open();
        // Python starts the first period at the file's last change, so a
        // program restarted the next day rotates yesterday's file at once.
        struct stat status {};
        std::time_t start = ::fstat(fd_.get(), &status) == 0 && status.st_size > 0
                                ? status.st_mtim.tv_sec
                                : std::time(nullptr);
        if (options_.rotate == LogFileOptions::Rotate::time) rollover_at_ = next_rollover(start);
    }

    void write(const LogRecord& record) {
        std::string line = format_log_record(record, false) + "\n";
        std::time_t now = Clock::to_time_t(record.time);
        if (should_roll_over(now, line.size())) roll_over(now);
        if (!fd_.valid()) return;
        std::string_view rest = line;
        while (!rest.empty()) {
            ssize_t written = ::write(fd_.get(), rest.data(), rest.size());
            if (written < 0 && errno == EINTR) continue;
            if (written <= 0) return;  // a full disk: the line is lost, the program goes on
            rest.remove_prefix(static_cast<std::size_t>(written));
            size_ += static_cast<std::uint64_t>(written);
        }
    }

private:
    void open() {
        int fd = ::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            throw std::system_error(errno, std::generic_category(),
                                    "cannot open log file " + options_.path);
        }
        fd_.reset(fd);
        struct stat status {};
        size_ = ::fstat(fd, &status) == 0 ? static_cast<std::uint64_t>(status.st_size) : 0;
    }

    // Reopening after a rename may fail (the folder went away); then lines
    // are dropped until the next rotation, rather than thrown at a log call.
    void reopen() {
        fd_.reset();
        try {
            open();
        } catch (const std::system_error&) {}
    }

    bool should_roll_over(std::time_t now, std::size_t line_size) const {
        if (options_.backups <= 0 && options_.rotate == LogFileOptions::Rotate::size) return false;
        if (options_.rotate == LogFileOptions::Rotate::size) {
            return options_.max_size > 0 && size_ + line_size >= options_.max_size;
        }
        return now >= rollover_at_;
    }

    void roll_over(std::time_t now) {
        if (options_.rotate == LogFileOptions::Rotate::size) {
            shift_numbered_backups();
        } else {
            if (options_.backups > 0) rename_to_dated_backup();
            std::time_t next = next_rollover(now);
            while (next <= now) next += rule_.period;
            rollover_at_ = next;
        }
        reopen();
    }

    // PATH.(n-1) -> PATH.n, ..., PATH -> PATH.1; PATH.<backups> is replaced.
    void shift_numbered_backups() {
        std::error_code ignored;
        for (int index = options_.backups - 1; index >= 1; --index) {
            std::string from = options_.path + "." + std::to_string(index);
            if (std::filesystem::exists(from, ignored)) {
                std::filesystem::rename(from, options_.path + "." + std::to_string(index + 1),
                                        ignored);
            }
        }
        std::filesystem::rename(options_.path, options_.path + ".1", ignored);
    }

    // PATH -> PATH.<start of the period that ends now>, then the oldest
    // dated files beyond `backups` go.
    void rename_to_dated_backup() {
        std::time_t period_start = rollover_at_ - rule_.period;
        std::tm parts = local_time(period_start);
        char suffix[64];
        std::strftime(suffix, sizeof suffix, rule_.suffix, &parts);
        std::string target = options_.path + "." + suffix;
        std::error_code ignored;
        std::filesystem::remove(target, ignored);
        std::filesystem::rename(options_.path, target, ignored);
        delete_old_dated_backups();
    }

    void delete_old_dated_backups() {
        std::filesystem::path path(options_.path);
        std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : ".";
        std::string prefix = path.filename().string() + ".";
        std::regex suffix(rule_.suffix_pattern);
        std::vector<std::filesystem::path> backups;
        std::error_code error;
        for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
            std::string name = entry.path().filename().string();
            if (name.starts_with(prefix) && std::regex_match(name.substr(prefix.size()), suffix)) {
                backups.push_back(entry.path());
            }
        }
        // The dated names sort in time order.
        std::sort(backups.begin(), backups.end());
        std::size_t keep = static_cast<std::size_t>(options_.backups);
        for (std::size_t index = 0; index + keep < backups.size(); ++index) {
            std::filesystem::remove(backups[index], error);
        }
    }

    std::time_t next_rollover(std::time_t now) const {
        if (rule_.at_midnight) return next_midnight(now, rule_.weekday);
        return now + rule_.period;
    }

    LogFileOptions options_;
    TimeRule rule_;
    FileDescriptor fd_;
    std::uint64_t size_ = 0;
    std::time_t rollover_at_ = 0;
};

}  // namespace

LogHandler make_file_log_handler(const LogFileOptions& options) {
    // A std::function must be copyable, and the file is not: shared.
    auto file = std::make_shared<RotatingLogFile>(options);
    return [file](const LogRecord& record) { file->write(record); };
}

}  // namespace tornado
