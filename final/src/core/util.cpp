// util.cpp: see tornado/util.h for the contract.
#include "tornado/util.h"

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace tornado {

void throw_errno(const std::string& call) {
    throw std::system_error(errno, std::generic_category(), call);
}

void FileDescriptor::reset(int fd) noexcept {
    if (fd_ >= 0) {
        // close() may report EINTR, but on Linux the descriptor is released
        // anyway; retrying could close a descriptor another thread just got.
        ::close(fd_);
    }
    fd_ = fd;
}

}  // namespace tornado
