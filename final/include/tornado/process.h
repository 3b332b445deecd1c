// tornado/process.h: one server, several processes; and other programs
// run as child processes (Tornado's `tornado.process`).
//
// A Python server is single-threaded, and so is an IOLoop: to use every
// core, Tornado forks one process per core after binding the listening
// sockets, and each process runs its own loop on the shared sockets (the
// kernel gives each new connection to one of them):
//
//   std::vector<tornado::FileDescriptor> sockets = tornado::bind_sockets(8888);
//   int id = tornado::fork_processes(0);       // one worker per CPU; returns in each worker
//   tornado::IOLoop loop;                      // made after the fork, never before
//   MyServer server;
//   server.add_sockets(std::move(sockets));
//   loop.start();
//
// (TCPServer::bind then start(n) does the same.) The parent process never
// returns from fork_processes: it supervises the workers, starts a new one
// with the same task id when one dies of a signal or exits with a non-zero
// status, and exits when every worker has exited with status 0.
//
// What the twin adds to Tornado's: SIGINT or SIGTERM sent to the parent is
// passed on to every worker, and workers that then exit are not restarted,
// so `kill <parent>` (or systemd's stop) stops the whole group; a worker
// that calls IOLoop::install_signal_handlers stops gracefully.
//
// Subprocess (Tornado's) runs another program as a child process, its
// standard streams on the loop as PipeIOStreams, its exit a Future:
//
//   tornado::Subprocess cat({"cat"}, {.stdin = tornado::Subprocess::STREAM,
//                                     .stdout = tornado::Subprocess::STREAM});
//   co_await cat.stdin()->write("hello");
//   cat.stdin()->close();                                  // cat sees its end of file
//   std::string echoed = co_await cat.stdout()->read_until_close();
//   int status = co_await cat.wait_for_exit();             // 0, or CalledProcessError
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/iostream.h"
#include "tornado/util.h"

namespace tornado {

// The CPUs this process may run on (its affinity mask, which containers and
// taskset narrow), or all online CPUs; at least 1.
int cpu_count();

// Forks num_processes workers (0 or less: cpu_count()) and returns, in each
// worker, its task id, 0 to num_processes - 1. The parent supervises (see
// above) and exits with status 0 once every worker has exited normally; it
// throws std::runtime_error after more than max_restarts restarts (100).
//
// Call it before making any IOLoop or thread: a child would share the
// loop's epoll instance, and would not have the parent's other threads.
// Throws std::logic_error if this thread already has an IOLoop, or if
// fork_processes was already called in this process.
int fork_processes(int num_processes, std::optional<int> max_restarts = std::nullopt);

// This worker's task id, or nothing when fork_processes was not called.
std::optional<int> task_id();

// --- Subprocess ----------------------------------------------------------------

// What wait_for_exit() fails with when the program did not exit with 0
// (Python's subprocess.CalledProcessError): "Command 'sh -c exit 3'
// returned non-zero exit status 3.", "Command 'sleep 10' died with
// SIGTERM (signal 15)."
class CalledProcessError : public std::runtime_error {
public:
    CalledProcessError(int returncode, std::vector<std::string> cmd);
    // As Subprocess::returncode(): the exit status, or minus the signal.
    int returncode() const noexcept { return returncode_; }
    // The program and its arguments, as the Subprocess was given them
    // (Python's cmd).
    const std::vector<std::string>& cmd() const noexcept { return cmd_; }

private:
    int returncode_;
    std::vector<std::string> cmd_;
};

// What one of a child's standard streams is connected to.
enum class SubprocessStdio : unsigned char {
    inherit,    // this process's own (Python's None)
    devnull,    // /dev/null (subprocess.DEVNULL)
    stream,     // a pipe, this process's end a PipeIOStream (Subprocess.STREAM)
    to_stdout,  // stderr only: wherever stdout goes (subprocess.STDOUT)
};

// How Subprocess starts its child: the keyword arguments Tornado's
// Subprocess hands on to Python's subprocess.Popen, and stream_options.
// (The three streams are named as those arguments. <cstdio> defines stdin,
// stdout and stderr as macros; glibc's expand to the same names, so these
// are fine there.)
struct SubprocessOptions {
    // The child's standard input; with stream, Subprocess::stdin() writes
    // to it. to_stdout is refused here.
    SubprocessStdio stdin = SubprocessStdio::inherit;
    // Its standard output; with stream, Subprocess::stdout() reads it.
    // to_stdout is refused here too.
    SubprocessStdio stdout = SubprocessStdio::inherit;
    // Its standard error; with stream, Subprocess::stderr() reads it; with
    // to_stdout, it goes wherever stdout goes.
    SubprocessStdio stderr = SubprocessStdio::inherit;
    // The child's whole environment (nothing: this process's). Its PATH, if
    // any, is where a program named without a '/' is looked for.
    std::optional<std::map<std::string, std::string>> env = std::nullopt;
    // The directory the child starts in (empty: this process's).
    std::string cwd = {};
    // The child gets no descriptor of this process but its three standard
    // streams (Python's close_fds=True, its default). Every descriptor the
    // framework makes is close-on-exec anyway; this also covers those that
    // other code opened without the flag.
    bool close_fds = true;
    // For the PipeIOStreams made for STREAM.
    IOStreamOptions stream_options = {};
};

namespace detail {
struct SubprocessState;  // process.cpp
}

// Tornado's Subprocess: a child process running `args` (args[0] is the
// program, looked for in PATH unless it holds a '/'; no shell), whose
// stdin, stdout and stderr may be streams on the current IOLoop, and whose
// exit is reported on that loop.
//
// * Starting: the constructor forks, and the child execs the program. Why
//   it could not (no such program, no permission, a bad cwd) comes back
//   to the parent through a close-on-exec pipe, as in Python's subprocess:
//   the constructor throws std::system_error with the errno and the path
//   ("Subprocess: cannot run 'no-such-program': No such file or
//   directory"), and no child is left behind. Between fork and exec the
//   child makes only async-signal-safe calls (this process may have other
//   threads): everything it needs is prepared before the fork.
// * Exit: returncode() is Python's: the exit status, or minus the signal
//   that killed the child (-15 for SIGTERM). set_exit_callback and
//   wait_for_exit report it from the loop. Children are reaped by a
//   SIGCHLD handler on one IOLoop (initialize()), which calls
//   waitpid(pid, WNOHANG) for each pid a Subprocess started, never
//   waitpid(-1): the statuses of other children (fork_processes' workers,
//   a library's own) are left to their owners. Every child is reaped once
//   it exits, watched or not, even after its Subprocess is gone: no
//   zombies.
// * Streams: stdin(), stdout(), stderr() are the PipeIOStreams made for
//   STREAM (nullptr otherwise), on the loop current at construction.
//   Closing stdin() is how the child learns its input is over. Destroying
//   the Subprocess closes the streams still open (Tornado leaves that to
//   the caller); it does not stop the child (send_signal does).
//
// Differences from Tornado: wait_for_exit and set_exit_callback do not
// replace each other (in Tornado, wait_for_exit takes the exit callback's
// place); CalledProcessError names the command (Tornado's says "unknown");
// initialize() is called by the constructor, not only by set_exit_callback,
// so that no child is left unreaped.
//
// Threads: use a Subprocess on its loop's thread. Its exit is reported on
// its own loop even when another thread's loop owns SIGCHLD; children are
// reaped only while that loop runs.
class Subprocess {
public:
    using Stdio = SubprocessStdio;
    using ExitCallback = Function<void(int returncode)>;

    // A pipe, this process's end a PipeIOStream (Tornado's
    // Subprocess.STREAM).
    static constexpr Stdio STREAM = Stdio::stream;
    // /dev/null (Python's subprocess.DEVNULL).
    static constexpr Stdio DEVNULL = Stdio::devnull;
    // For stderr only: wherever stdout goes (Python's subprocess.STDOUT).
    static constexpr Stdio STDOUT = Stdio::to_stdout;

    // Starts the program (see above). Throws std::invalid_argument for
    // empty args, a STDOUT given for stdin or stdout, or a string holding a
    // NUL; std::system_error when a pipe, the fork or the exec fails;
    // std::logic_error when SIGCHLD cannot be handled (see initialize).
    explicit Subprocess(std::vector<std::string> args, SubprocessOptions options = {});
    // Closes the streams still open; the child, if still running, goes on
    // and is reaped when it exits. (Movable: a moved-from Subprocess only
    // destructs.)
    ~Subprocess();
    Subprocess(Subprocess&&) noexcept;
    Subprocess& operator=(Subprocess&&) noexcept;
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;

    // The child's process id, kept after it exits. Once the child is
    // reaped the system may give the id to another process: send_signal
    // then does nothing, where a kill(pid()) could hit a stranger.
    pid_t pid() const noexcept;
    const std::vector<std::string>& args() const noexcept;
    // The write end of the child's stdin, for STREAM (else nullptr). Close
    // it to give the child its end of file.
    std::shared_ptr<PipeIOStream> stdin() const noexcept { return stdin_; }
    // The read end of the child's stdout, for STREAM (else nullptr).
    std::shared_ptr<PipeIOStream> stdout() const noexcept { return stdout_; }
    // The read end of the child's stderr, for STREAM (else nullptr).
    std::shared_ptr<PipeIOStream> stderr() const noexcept { return stderr_; }

    // The exit status (minus the signal for a child killed by one), once
    // the loop has been told; nothing while the child runs.
    std::optional<int> returncode() const noexcept;

    // Runs callback(returncode) once, from the loop, when the child exits
    // (at the next turn if it has already). Replaces a callback that has
    // not run; nullptr clears it.
    void set_exit_callback(ExitCallback callback);
    // Resolves with the returncode when the child exits; with raise_error,
    // a non-zero one fails it with CalledProcessError instead.
    Future<int> wait_for_exit(bool raise_error = true);

    // Sends `signal` to the child (Popen.send_signal); does nothing once
    // the child has been reaped, so that a reused pid is never signalled.
    void send_signal(int signal);

    // Installs the SIGCHLD handler on the current IOLoop (through
    // IOLoop::add_signal_handler), which from then on reaps the children
    // of every Subprocess, whatever their loop. Does nothing if a loop has
    // it already (the first one keeps it). Throws std::logic_error if
    // another loop handles SIGCHLD for someone else. The handler goes when
    // its loop closes, and the next Subprocess installs it again.
    static void initialize();
    // Removes the SIGCHLD handler; call it on the thread of the loop that
    // has it (std::logic_error otherwise). Children that exit meanwhile are
    // reaped when a handler is installed again.
    static void uninitialize();

private:
    std::shared_ptr<detail::SubprocessState> state_;
    std::shared_ptr<PipeIOStream> stdin_;
    std::shared_ptr<PipeIOStream> stdout_;
    std::shared_ptr<PipeIOStream> stderr_;
};

}  // namespace tornado
