// The tests' one use of <linux/tcp.h>: its struct tcp_info counts the
// segments that carried data, which glibc's <netinet/tcp.h> (the one the
// other test files include, and which cannot be included with it) lacks.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdexcept>

namespace tornado::testing {

unsigned data_segments_received(int fd) {
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) {
        throw std::runtime_error("getsockopt(TCP_INFO) failed");
    }
    return info.tcpi_data_segs_in;
}

}  // namespace tornado::testing
