// trace.cpp: see trace.h. Recording appends a few numbers to one list under
// a mutex; only write_file() formats anything.
#include "trace.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>  // program_invocation_short_name, the program's name (GNU)
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace course::trace {

namespace {

struct Event {
    char phase;  // 'X' a bar, 'C' a counter
    const char* name;
    double start_us;  // steady_clock, in microseconds: the format's unit
    double duration_us;
    int tid;
    const char* arg;  // nullptr: none
    long value;
};

// A loop traced for hours must not eat the machine: past this many events
// (about 100 MB) new ones are dropped, and the file says how many.
constexpr std::size_t kMaxEvents = 2'000'000;

struct Recording {
    std::mutex mutex;  // guards the rest: every loop's thread records
    std::vector<Event> events;
    std::map<std::string, long> counters;  // each counter's last value
    std::size_t dropped = 0;
};

Recording& recording() {
    static Recording instance;  // made on first use, whatever the order of static set-up
    return instance;
}

const char* path() {
    const char* path = std::getenv("TORNADO_TRACE");
    return path != nullptr && *path != '\0' ? path : nullptr;
}

double microseconds(detail::Clock::time_point at) {
    return std::chrono::duration<double, std::micro>(at.time_since_epoch()).count();
}

int this_thread_id() {
    thread_local int tid = ::gettid();  // the kernel's number, as top -H shows it
    return tid;
}

void add(Recording& recording, const Event& event) {  // with recording.mutex held
    if (recording.events.size() < kMaxEvents) {
        recording.events.push_back(event);
    } else {
        ++recording.dropped;
    }
}

}  // namespace

bool detail::g_on = path() != nullptr;

void detail::record_bar(const char* name, Clock::time_point start, const char* arg, long value) {
    double start_us = microseconds(start);
    double duration_us = microseconds(Clock::now()) - start_us;
    std::lock_guard lock(recording().mutex);
    add(recording(), {'X', name, start_us, duration_us, this_thread_id(), arg, value});
}

void detail::record_counter(const char* name, long value) {
    std::lock_guard lock(recording().mutex);
    auto [last, is_new] = recording().counters.try_emplace(name, value);
    if (!is_new && last->second == value) return;
    last->second = value;
    add(recording(), {'C', name, microseconds(Clock::now()), 0, this_thread_id(), "value", value});
}

void detail::write_file() {
    Recording& r = recording();
    std::lock_guard lock(r.mutex);
    // The format asks for each thread's bars in the order they began (a
    // bar is recorded when it ends: a turn after the handlers inside it);
    // of a bar and a child that began with it, the longer first.
    std::stable_sort(r.events.begin(), r.events.end(), [](const Event& a, const Event& b) {
        return a.start_us != b.start_us ? a.start_us < b.start_us : a.duration_us > b.duration_us;
    });
    std::FILE* file = std::fopen(path(), "w");
    if (file == nullptr) {
        std::perror(path());
        return;
    }
    const int pid = ::getpid();
    static constexpr char metadata[] =
        "{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"%s\"}}";
    std::fputs("{\"traceEvents\":[\n", file);
    std::fprintf(file, metadata, "process_name", pid, pid, program_invocation_short_name);
    std::set<int> named_threads;
    for (const Event& e : r.events) {
        if (named_threads.insert(e.tid).second) {  // the thread's first event: name it
            std::fputs(",\n", file);
            std::fprintf(file, metadata, "thread_name", pid, e.tid, "IOLoop");
        }
        std::fprintf(file, ",\n{\"name\":\"%s\",\"cat\":\"loop\",\"ph\":\"%c\",\"ts\":%.3f,",
                     e.name, e.phase, e.start_us);
        if (e.phase == 'X') std::fprintf(file, "\"dur\":%.3f,", e.duration_us);
        std::fprintf(file, "\"pid\":%d,\"tid\":%d", pid, e.tid);
        if (e.arg != nullptr) std::fprintf(file, ",\"args\":{\"%s\":%ld}", e.arg, e.value);
        std::fputs("}", file);
    }
    std::fprintf(file, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"dropped_events\":%zu}}\n",
                 r.dropped);
    std::fclose(file);
}

}  // namespace course::trace
