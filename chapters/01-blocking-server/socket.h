// socket.h: a small RAII layer over BSD sockets, shared by every chapter.
//
// The C socket API reports errors through return values and errno, leaks a
// descriptor on every early return, and kills the process with SIGPIPE when
// a peer goes away. This file fixes those three things once:
//
//   FileDescriptor  owns one descriptor and closes it exactly once;
//   throw_errno()   turns a failed call into std::system_error that names
//                   the call and the errno ("accept: Too many open files");
//   write_all()     loops over partial writes and EINTR, never raises SIGPIPE.
//
// Everything here is blocking unless the descriptor was made non-blocking
// (set_nonblocking, from chapter 02 on); the helpers then report EAGAIN to
// the caller instead of waiting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace course {

// Throws std::system_error for `call` with the current errno, for example
// "connect 127.0.0.1:80: Connection refused".
[[noreturn]] void throw_errno(const std::string& call);

// The same for an error code read earlier. errno is a global that almost any
// library call may overwrite, so code that does more work before throwing
// (formatting an address, say) saves it first and passes it here.
[[noreturn]] void throw_system_error(int error, const std::string& call);

// Owns one file descriptor. Move-only: copying would close it twice.
class FileDescriptor {
public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor() { reset(); }

    FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
    FileDescriptor& operator=(FileDescriptor&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }

    // Gives up ownership without closing.
    int release() { return std::exchange(fd_, -1); }
    // Closes the current descriptor (if any) and owns `fd` instead.
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

// A connection accepted by accept_connection().
struct AcceptedConnection {
    FileDescriptor fd;
    std::string peer;  // "127.0.0.1:54321"
};

// socket() + SO_REUSEADDR + bind() + listen(). Port 0 asks the kernel for a
// free port; local_port() tells which one it chose.
FileDescriptor listen_tcp(const std::string& host, std::uint16_t port, int backlog = 1024);

// The port a bound socket is using.
std::uint16_t local_port(int fd);

// Waits for one connection (or, on a non-blocking listener, returns an
// invalid fd when none is pending). Retries on EINTR, on ECONNABORTED (a
// client that gave up before we accepted it is not our error) and on the
// network errors Linux reports through accept() for such clients.
AcceptedConnection accept_connection(int listen_fd);

// A blocking TCP connection to host:port. A signal that interrupts the
// connect does not abort it: we wait for it to finish.
FileDescriptor connect_tcp(const std::string& host, std::uint16_t port);

// What read_some returns on a non-blocking socket that has nothing to read.
inline constexpr long kWouldBlock = -1;

// Reads what is available, up to `capacity` bytes. Returns the byte count,
// 0 at end of stream, or kWouldBlock (non-blocking sockets only). Retries on
// EINTR; every other error throws.
long read_some(int fd, char* buffer, std::size_t capacity);

// Writes what the kernel accepts now, at most data.size() bytes; returns how
// many. On a non-blocking socket with a full send buffer it returns 0.
// Never raises SIGPIPE: a closed peer throws (EPIPE / ECONNRESET) instead.
std::size_t write_some(int fd, std::string_view data);

// Writes every byte, looping over partial writes. Blocking sockets only.
// Throws like write_some when the peer has gone.
void write_all(int fd, std::string_view data);

// O_NONBLOCK on: reads and writes return at once instead of waiting.
void set_nonblocking(int fd);

// Ignore SIGPIPE for the whole process. write_some already uses MSG_NOSIGNAL;
// this covers everything else (a server's main calls it once).
void ignore_sigpipe();

// Raises this process's limit on open descriptors (RLIMIT_NOFILE) from its
// soft value (often 1024) to the hard one, and returns the new limit. A
// server for thousands of clients needs a descriptor for each of them.
std::size_t raise_open_file_limit();

}  // namespace course
