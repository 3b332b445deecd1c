// trace.cpp: see tornado/trace.h for the contract, and IOLoop::start_tracing
// (ioloop.h) for how a trace begins and ends.
//
// Two halves:
//
//   * recording: the Tracer puts each event into a ring slot, a few stores
//     and no formatting, because it runs for every callback of a loop that
//     traces (the hooks reach it through current_tracer());
//   * writing: write() sorts what the rings hold by time, pairs each span's
//     end with its beginning, and formats Chrome's trace-event JSON
//     (TraceWriter), into a temporary file renamed over the old one.
#include "tornado/trace.h"

#include <errno.h>  // program_invocation_short_name
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace tornado::detail {

namespace {

using What = TraceEvent::What;
using Clock = std::chrono::steady_clock;

// The kernel's id of the calling thread, the "tid" Perfetto shows. Asked
// once per thread: gettid() is a system call.
int this_thread_id() {
    thread_local const int tid = static_cast<int>(::gettid());
    return tid;
}

std::int64_t nanoseconds(Clock::duration duration) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count();
}

// Every field of a reused slot set again, so no event shows an older one's.
void reset(TraceEvent& event, What what, std::int64_t start_ns, int tid) {
    event.what = what;
    event.start_ns = start_ns;
    event.duration_ns = 0;
    event.id = 0;
    event.value = 0;
    event.extra = 0;
    event.where = {};
    event.text.clear();  // keeps its capacity: a reused slot allocates nothing
    event.name = "";
    event.tid = tid;
}

std::uint64_t id_of(const void* object) { return reinterpret_cast<std::uintptr_t>(object); }

}  // namespace

// --- the ring ----------------------------------------------------------------------------

EventRing::EventRing(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {
    events_.reserve(capacity_);
}

TraceEvent& EventRing::next_slot() {
    if (events_.size() < capacity_) return events_.emplace_back();
    TraceEvent& oldest = events_[oldest_];
    oldest_ = oldest_ + 1 == capacity_ ? 0 : oldest_ + 1;
    ++dropped_;
    return oldest;
}

std::vector<const TraceEvent*> EventRing::oldest_first() const {
    std::vector<const TraceEvent*> events;
    events.reserve(events_.size());
    for (std::size_t i = 0; i < events_.size(); ++i) {
        events.push_back(&events_[(oldest_ + i) % events_.size()]);
    }
    return events;
}

// --- recording ---------------------------------------------------------------------------

// An eighth of the events for other threads: executor jobs are few next to
// the loop's callbacks, and the two rings together keep max_events.
Tracer::Tracer(std::string path, const TraceOptions& options, IOLoop::Backend backend)
    : path_(std::move(path)),
      loop_name_(backend == IOLoop::Backend::io_uring ? "IOLoop (io_uring)" : "IOLoop (epoll)"),
      origin_(Clock::now()),
      loop_tid_(this_thread_id()),
      max_events_(options.max_events),
      ring_(std::max<std::size_t>(options.max_events - options.max_events / 8, 1)),
      other_threads_(std::make_shared<OtherThreadsEvents>(
          std::max<std::size_t>(options.max_events / 8, 1), origin_)) {}

std::int64_t Tracer::since_origin(Clock::time_point at) const { return nanoseconds(at - origin_); }

TraceEvent& Tracer::add(What what, Clock::time_point at) {
    TraceEvent& event = ring_.next_slot();
    reset(event, what, since_origin(at), loop_tid_);
    return event;
}

void Tracer::record_turn(Clock::time_point started, Clock::time_point ended) {
    add(What::turn, started).duration_ns = nanoseconds(ended - started);
}

void Tracer::record_poll(Clock::time_point started, Clock::time_point ended, int timeout_ms,
                         std::size_t ready) {
    TraceEvent& event = add(What::poll, started);
    event.duration_ns = nanoseconds(ended - started);
    event.value = static_cast<std::int64_t>(ready);
    event.extra = timeout_ms;
}

void Tracer::record_callback(const char* kind, SourceLocation where, int fd,
                             Clock::time_point started, Clock::time_point ended) {
    TraceEvent& event = add(What::callback, started);
    event.duration_ns = nanoseconds(ended - started);
    event.name = kind;
    event.where = where;
    event.value = fd;
}

// Only a change is recorded: a counter's track holds its value until the
// next sample, so an unchanged one would add events and show nothing new.
void Tracer::sample_counters(Clock::time_point now, std::size_t queued_callbacks,
                             std::size_t open_descriptors) {
    auto sample = [&](const char* name, std::int64_t value, std::int64_t& last) {
        if (value == last) return;
        last = value;
        TraceEvent& event = add(What::counter, now);
        event.name = name;
        event.value = value;
    };
    sample("queued callbacks", static_cast<std::int64_t>(queued_callbacks), last_queued_callbacks_);
    sample("open descriptors", static_cast<std::int64_t>(open_descriptors), last_open_descriptors_);
}

void Tracer::record_request_begin(const void* request, std::string_view method,
                                  std::string_view path) {
    TraceEvent& event = add(What::request_begin, Clock::now());
    event.id = id_of(request);
    event.text.append(method).append(1, ' ').append(path);
}

void Tracer::record_request_end(const void* request, int status) {
    TraceEvent& event = add(What::request_end, Clock::now());
    event.id = id_of(request);
    event.value = status;
}

void Tracer::record_task(What what, const void* task, SourceLocation where) {
    TraceEvent& event = add(what, Clock::now());
    event.id = id_of(task);
    event.where = where;
}

void Tracer::record_websocket(const char* what, std::size_t bytes, bool binary) {
    TraceEvent& event = add(What::websocket, Clock::now());
    event.name = what;
    event.value = static_cast<std::int64_t>(bytes);
    event.extra = binary ? 1 : 0;
}

// --- the hooks ---------------------------------------------------------------------------

// The loop's tracer_ is private: this function is its friend.
Tracer* current_tracer() noexcept {
    IOLoop* loop = IOLoop::try_current();
    return loop != nullptr ? loop->tracer_.get() : nullptr;
}

// A coroutine starts running as it is made (Tasks are eager): its span and
// its first "running" span begin together, and end together at its end.
void trace_task_created(const void* task, SourceLocation where) {
    if (Tracer* tracer = current_tracer()) {
        tracer->record_task(What::task_begin, task, where);
        tracer->record_task(What::task_resumed, task);
    }
}

void trace_task_suspended(const void* task) {
    if (Tracer* tracer = current_tracer()) tracer->record_task(What::task_suspended, task);
}

void trace_task_resumed(const void* task) {
    if (Tracer* tracer = current_tracer()) tracer->record_task(What::task_resumed, task);
}

void trace_task_finished(const void* task) {
    if (Tracer* tracer = current_tracer()) {
        tracer->record_task(What::task_suspended, task);
        tracer->record_task(What::task_end, task);
    }
}

void trace_request_started(const void* request, std::string_view method, std::string_view path) {
    if (Tracer* tracer = current_tracer()) tracer->record_request_begin(request, method, path);
}

void trace_request_finished(const void* request, int status) {
    if (Tracer* tracer = current_tracer()) tracer->record_request_end(request, status);
}

void trace_websocket_message(const char* what, std::size_t bytes, bool binary) {
    if (Tracer* tracer = current_tracer()) tracer->record_websocket(what, bytes, binary);
}

std::shared_ptr<OtherThreadsEvents> job_events(Tracer& tracer) { return tracer.other_threads(); }

// On the job's thread, under the lock of the events other threads share,
// which the job holds a reference to: the loop may stop tracing, or be
// gone, before the job ends.
void record_job(OtherThreadsEvents& events, SourceLocation where, Clock::time_point started) {
    Clock::time_point ended = Clock::now();
    std::lock_guard lock(events.mutex);
    TraceEvent& event = events.ring.next_slot();
    reset(event, What::job, nanoseconds(started - events.origin), this_thread_id());
    event.duration_ns = nanoseconds(ended - started);
    event.where = where;
}

// --- writing -------------------------------------------------------------------------------

namespace {

// Appends `text` as a JSON string. Bytes outside printable ASCII are
// written as \u00XX: the file stays valid JSON (which must be UTF-8)
// whatever bytes a request's path held, at the price of showing them as
// Latin-1.
void append_json_string(std::string& out, std::string_view text) {
    out += '"';
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte == '"' || byte == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte >= 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", unsigned{byte});
            out += escaped;
        } else {
            out += c;
        }
    }
    out += '"';
}

// Nanoseconds as microseconds (the unit of "ts" and "dur") with three
// decimals: exact, so that a child's end never passes its parent's.
void append_microseconds(std::string& out, std::int64_t ns) {
    if (ns < 0) {  // never recorded so; kept valid all the same
        out += '-';
        ns = -ns;
    }
    out += std::to_string(ns / 1000);
    // Three digits by hand: snprintf(".%03d") into a small buffer makes GCC
    // warn (an error here) that a negative number would not fit.
    auto thousandths = static_cast<int>(ns % 1000);
    out += '.';
    out += static_cast<char>('0' + thousandths / 100);
    out += static_cast<char>('0' + thousandths / 10 % 10);
    out += static_cast<char>('0' + thousandths % 10);
}

// A function's name without its return type and parameters: GCC's
// source_location gives the whole signature ("tornado::Task<void>
// tornado::HTTP1Connection::continue_message(std::unique_ptr<...>)"),
// clang's builtin the bare name. Brackets are counted so that a space or
// parenthesis inside a template's arguments is not taken for the end.
std::string short_function(std::string_view signature) {
    int depth = 0;
    std::size_t name_begins = 0;
    for (std::size_t i = 0; i < signature.size(); ++i) {
        char c = signature[i];
        if (c == '<' || c == '[') ++depth;
        if (c == '>' || c == ']') --depth;
        if (depth != 0) continue;
        if (c == ' ') name_begins = i + 1;  // what came before was the return type
        if (c == '(') {
            std::string_view name = signature.substr(name_begins, i - name_begins);
            // "operator()" holds the parenthesis that would end the name.
            if (name.ends_with("operator") && signature.substr(i).starts_with("()")) {
                ++i;
                continue;
            }
            return std::string(name);
        }
    }
    return std::string(signature.substr(name_begins));
}

// The begun spans not yet ended: an "e" names the span of its (cat, id)
// begun last, as Chrome's nestable async events do (a coroutine's
// "running" spans sit inside its own).
class OpenSpans {
public:
    void begin(const char* cat, std::uint64_t id, std::string name) {
        open_[{cat, id}].push_back(std::move(name));
    }
    // The name of the span this end closes; nullopt when its beginning is
    // not in the file (dropped from the ring, or begun before tracing).
    std::optional<std::string> end(const char* cat, std::uint64_t id) {
        auto found = open_.find({cat, id});
        if (found == open_.end()) return std::nullopt;
        std::string name = std::move(found->second.back());
        found->second.pop_back();
        if (found->second.empty()) open_.erase(found);
        return name;
    }
    // Each span still open, innermost first: (cat, id, name).
    template <typename F>
    void for_each_open(F&& f) const {
        for (const auto& [key, names] : open_) {
            for (auto name = names.rbegin(); name != names.rend(); ++name) {
                f(key.first, key.second, *name);
            }
        }
    }

private:
    std::map<std::pair<const char*, std::uint64_t>, std::vector<std::string>> open_;
};

// Formats the events into the file, a buffer at a time.
class TraceWriter {
public:
    TraceWriter(std::FILE* file, int pid) : file_(file), pid_(pid) {}

    void start() { out_ += "{\"traceEvents\":[\n"; }
    void metadata(const char* what, int tid, std::string_view name);
    void event(const TraceEvent& event);
    // An end for each span still open (a request in flight, a coroutine
    // still waiting): marked "unfinished", at `now`. Returns how many.
    std::size_t end_open_spans(std::int64_t now, int tid);
    void finish(std::string_view other_data);
    std::size_t unmatched_ends() const noexcept { return unmatched_ends_; }

private:
    void open(std::string_view name, const char* cat, char phase, std::int64_t ts, int tid);
    // The comma goes before each event but the first: JSON allows none
    // after the last one.
    void open_event() {
        if (!first_event_) out_ += ",\n";
        first_event_ = false;
        out_ += '{';
    }
    void close_event() {
        out_ += '}';
        if (out_.size() > kFlushAt) flush();
    }
    void args_begin() { out_ += ",\"args\":{"; }
    void arg(std::string_view key, std::int64_t value, bool first = false);
    void arg(std::string_view key, std::string_view value, bool first = false);
    void args_end() { out_ += '}'; }
    void id(std::uint64_t id);
    void async_begin(const TraceEvent& event, const char* cat, std::string name);
    bool async_end(const TraceEvent& event, const char* cat);
    void callback(const TraceEvent& event);
    void flush() {
        std::fwrite(out_.data(), 1, out_.size(), file_);
        out_.clear();
    }

    static constexpr std::size_t kFlushAt = 1 << 20;
    std::FILE* file_;
    int pid_;
    std::string out_;
    bool first_event_ = true;
    OpenSpans spans_;
    std::size_t unmatched_ends_ = 0;
};

void TraceWriter::open(std::string_view name, const char* cat, char phase, std::int64_t ts,
                       int tid) {
    open_event();
    out_ += "\"name\":";
    append_json_string(out_, name);
    out_ += ",\"cat\":\"";
    out_ += cat;
    out_ += "\",\"ph\":\"";
    out_ += phase;
    out_ += "\",\"ts\":";
    append_microseconds(out_, ts);
    out_ += ",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(tid);
}

void TraceWriter::arg(std::string_view key, std::int64_t value, bool first) {
    if (!first) out_ += ',';
    append_json_string(out_, key);
    out_ += ':' + std::to_string(value);
}

void TraceWriter::arg(std::string_view key, std::string_view value, bool first) {
    if (!first) out_ += ',';
    append_json_string(out_, key);
    out_ += ':';
    append_json_string(out_, value);
}

void TraceWriter::id(std::uint64_t id) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(id));
    out_ += ",\"id\":\"";
    out_ += text;
    out_ += '"';
}

void TraceWriter::metadata(const char* what, int tid, std::string_view name) {
    open_event();
    out_ += "\"name\":\"";
    out_ += what;
    out_ += "\",\"ph\":\"M\",\"pid\":" + std::to_string(pid_) + ",\"tid\":" + std::to_string(tid);
    args_begin();
    arg("name", name, true);
    args_end();
    close_event();
}

void TraceWriter::async_begin(const TraceEvent& event, const char* cat, std::string name) {
    open(name, cat, 'b', event.start_ns, event.tid);
    id(event.id);
    spans_.begin(cat, event.id, std::move(name));
}

// False (and nothing written) for an end whose beginning is not in the file.
bool TraceWriter::async_end(const TraceEvent& event, const char* cat) {
    std::optional<std::string> name = spans_.end(cat, event.id);
    if (!name) {
        ++unmatched_ends_;
        return false;
    }
    open(*name, cat, 'e', event.start_ns, event.tid);
    id(event.id);
    return true;
}

// "handler iostream.cpp:310": the kind, and where it was scheduled (a
// Future's callbacks and a resumed coroutine have no place of their own).
void TraceWriter::callback(const TraceEvent& event) {
    std::string place = short_place(event.where);
    std::string name = place.empty() ? std::string(event.name) : event.name + (" " + place);
    open(name, "loop", 'X', event.start_ns, event.tid);
    out_ += ",\"dur\":";
    append_microseconds(out_, event.duration_ns);
    std::string_view function = event.where.function_name();
    if (event.value < 0 && function.empty()) return;  // nothing to say in "args"
    args_begin();
    if (event.value >= 0) {
        arg(std::string_view(event.name) == "signal" ? "signal" : "fd", event.value, true);
    }
    if (!function.empty()) arg("function", short_function(function), event.value < 0);
    args_end();
}

void TraceWriter::event(const TraceEvent& event) {
    switch (event.what) {
        case What::turn:
            open("turn", "loop", 'X', event.start_ns, event.tid);
            out_ += ",\"dur\":";
            append_microseconds(out_, event.duration_ns);
            break;
        case What::poll:
            open("poll", "loop", 'X', event.start_ns, event.tid);
            out_ += ",\"dur\":";
            append_microseconds(out_, event.duration_ns);
            args_begin();
            arg("timeout_ms", event.extra, true);
            arg("ready", event.value);
            args_end();
            break;
        case What::callback: callback(event); break;
        case What::counter:
            open(event.name, "loop", 'C', event.start_ns, event.tid);
            args_begin();
            arg("value", event.value, true);
            args_end();
            break;
        case What::request_begin: {
            std::string_view text = event.text;
            std::size_t space = text.find(' ');
            async_begin(event, "http", "HTTP request");
            args_begin();
            arg("method", text.substr(0, space), true);
            arg("path", space == std::string_view::npos ? "" : text.substr(space + 1));
            args_end();
            break;
        }
        case What::request_end:
            if (!async_end(event, "http")) return;
            args_begin();
            arg("status", event.value, true);
            args_end();
            break;
        case What::task_begin:
            async_begin(event, "task", short_function(event.where.function_name()));
            args_begin();
            arg("where", short_place(event.where), true);
            args_end();
            break;
        case What::task_resumed: async_begin(event, "task", "running"); break;
        case What::task_suspended:
        case What::task_end:
            if (!async_end(event, "task")) return;
            break;
        case What::websocket:
            open(event.name, "websocket", 'i', event.start_ns, event.tid);
            out_ += ",\"s\":\"t\"";
            args_begin();
            arg("bytes", event.value, true);
            out_ += event.extra != 0 ? ",\"binary\":true" : ",\"binary\":false";
            args_end();
            break;
        case What::job: {
            std::string place = short_place(event.where);
            open(place.empty() ? "run_in_executor" : "run_in_executor " + place, "executor", 'X',
                 event.start_ns, event.tid);
            out_ += ",\"dur\":";
            append_microseconds(out_, event.duration_ns);
            std::string_view function = event.where.function_name();
            if (!function.empty()) {
                args_begin();
                arg("function", short_function(function), true);
                args_end();
            }
            break;
        }
    }
    close_event();
}

std::size_t TraceWriter::end_open_spans(std::int64_t now, int tid) {
    std::size_t count = 0;
    spans_.for_each_open([&](const char* cat, std::uint64_t span, const std::string& name) {
        open(name, cat, 'e', now, tid);
        id(span);
        args_begin();
        out_ += "\"unfinished\":true";
        args_end();
        close_event();
        ++count;
    });
    return count;
}

void TraceWriter::finish(std::string_view other_data) {
    out_ += "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":";
    out_ += other_data;
    out_ += "}\n";
    flush();
}

// Events of one thread in the order they began, which the format asks of
// complete (X) events. A parent and the child that begins with it: the
// longer first. Stable, so that a coroutine's span and its first "running"
// span, recorded at the same instant, keep their order.
void sort_by_start(std::vector<const TraceEvent*>& events) {
    std::stable_sort(events.begin(), events.end(), [](const TraceEvent* a, const TraceEvent* b) {
        if (a->start_ns != b->start_ns) return a->start_ns < b->start_ns;
        return a->duration_ns > b->duration_ns;
    });
}

}  // namespace

bool Tracer::write() const {
    // The other threads' events are copied out under their lock, so that
    // jobs can go on recording while the file is written.
    std::vector<TraceEvent> other_events;
    std::uint64_t other_dropped = 0;
    {
        std::lock_guard lock(other_threads_->mutex);
        for (const TraceEvent* event : other_threads_->ring.oldest_first()) {
            other_events.push_back(*event);
        }
        other_dropped = other_threads_->ring.dropped();
    }
    std::vector<const TraceEvent*> events = ring_.oldest_first();
    for (const TraceEvent& event : other_events) events.push_back(&event);
    sort_by_start(events);

    std::string temporary = path_ + ".tmp";
    std::FILE* file = std::fopen(temporary.c_str(), "w");
    if (file == nullptr) {
        gen_log.error("IOLoop tracing: cannot write {}: {}", temporary, std::strerror(errno));
        return false;
    }
    const int pid = static_cast<int>(::getpid());
    TraceWriter writer(file, pid);
    writer.start();
    writer.metadata("process_name", pid, program_invocation_short_name);
    writer.metadata("thread_name", loop_tid_, loop_name_);
    std::set<int> other_tids;
    for (const TraceEvent& event : other_events) other_tids.insert(event.tid);
    for (int tid : other_tids) writer.metadata("thread_name", tid, "executor thread");
    for (const TraceEvent* event : events) writer.event(*event);
    std::size_t unfinished = writer.end_open_spans(since_origin(Clock::now()), loop_tid_);

    std::uint64_t dropped = ring_.dropped() + other_dropped;
    // How complete the file is: what the rings dropped when full, the spans
    // closed here as unfinished, and the ends whose beginnings were dropped.
    writer.finish("{\"dropped_events\":" + std::to_string(dropped) +
                  ",\"max_events\":" + std::to_string(max_events_) +
                  ",\"unfinished_spans\":" + std::to_string(unfinished) +
                  ",\"unmatched_ends\":" + std::to_string(writer.unmatched_ends()) + "}");
    bool written = std::ferror(file) == 0;
    written = std::fclose(file) == 0 && written;
    if (!written || std::rename(temporary.c_str(), path_.c_str()) != 0) {
        gen_log.error("IOLoop tracing: cannot write {}: {}", path_, std::strerror(errno));
        std::remove(temporary.c_str());
        return false;
    }
    gen_log.info("IOLoop tracing: wrote {} events to {} ({} dropped)", events.size(), path_,
                 dropped);
    return true;
}

// Declared in tornado/trace.h: the loop's log lines name places this way too.
std::string short_place(SourceLocation where) {
    std::string_view file = where.file_name();
    if (file.empty()) return "";
    std::size_t slash = file.find_last_of('/');
    if (slash != std::string_view::npos) file.remove_prefix(slash + 1);
    return std::string(file) + ":" + std::to_string(where.line());
}

}  // namespace tornado::detail
