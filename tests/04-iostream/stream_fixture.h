// stream_fixture.h: an IOStream on one end of a loopback TCP connection and
// a plain blocking socket (the "peer", played by the test) on the other
// (StreamTest), on a loop the test runs itself (LoopTest).
//
// The test drives both from one thread: it writes as the peer, then runs
// the loop until what it expects has happened (every wait bounded).
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ioloop.h"
#include "iostream.h"
#include "socket.h"

namespace course::testing {

using namespace std::chrono_literals;

// A loop on the test's thread, and the bounded ways to run it.
class LoopTest : public ::testing::Test {
protected:
    // Runs the loop until done() holds or `timeout` passes; returns done().
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 3s) {
        if (done()) return true;
        auto deadline = IOLoop::time() + timeout;
        std::function<void()> check = [&] {
            if (done() || IOLoop::time() >= deadline) {
                loop.stop();
            } else {
                loop.call_later(1ms, check);
            }
        };
        loop.call_later(1ms, check);
        loop.start();
        return done();
    }

    // Runs the loop for about `duration`, whatever happens.
    void run_for(std::chrono::milliseconds duration) {
        run_until([] { return false; }, duration);
    }

    IOLoop loop;
};

class StreamTest : public LoopTest {
protected:
    void SetUp() override { connect(); }

    // (Re)connects: a fresh stream and peer. Call it to change the limit.
    void connect(std::size_t max_buffer_size = IOStream::kDefaultMaxBufferSize) {
        FileDescriptor listener = listen_tcp("127.0.0.1", 0);
        peer = connect_tcp("127.0.0.1", local_port(listener.get()));
        int on = 1;  // every send() of the peer is a segment of its own
        ::setsockopt(peer.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        AcceptedConnection accepted = accept_connection(listener.get());
        stream = IOStream::create(std::move(accepted.fd), loop, max_buffer_size);
        stream->set_close_callback([this] { ++close_calls; });
    }

    // Bytes that reached the stream's socket but that the stream has not
    // read from the kernel yet.
    int unread_by_stream() const {
        int pending = 0;
        if (stream->closed() || ::ioctl(stream->fileno(), FIONREAD, &pending) < 0) return 0;
        return pending;
    }

    // Sends `data` as the peer and runs the loop until the stream has read
    // it from its socket (or a short while has passed: the stream reads
    // only while a read is pending).
    void deliver(std::string_view data) {
        write_all(peer.get(), data);
        run_until([&] { return unread_by_stream() == 0; }, 500ms);
    }

    // Sends `message` in pieces of `piece` bytes, each delivered on its own.
    void deliver_in_pieces(std::string_view message, std::size_t piece) {
        for (std::size_t at = 0; at < message.size(); at += piece) {
            deliver(message.substr(at, piece));
        }
    }

    // Reads exactly n bytes as the peer (blocking, with a timeout).
    std::string peer_receive(std::size_t n) {
        timeval timeout{3, 0};
        ::setsockopt(peer.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        std::string data(n, '\0');
        std::size_t got = 0;
        while (got < n) {
            long r = read_some(peer.get(), data.data() + got, n - got);
            if (r <= 0) break;
            got += static_cast<std::size_t>(r);
        }
        data.resize(got);
        return data;
    }

    // Makes the peer's close a reset (RST) instead of an orderly FIN.
    void reset_peer() {
        linger hard{1, 0};
        ::setsockopt(peer.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        peer.reset();
    }

    // Reads with `read` again and again, collecting what each callback got,
    // until `count` results are in. read(callback) starts one read.
    using StartRead = std::function<void(IOStream::ReadCallback)>;
    void keep_reading(StartRead read, std::size_t count) {
        results.clear();
        auto next = std::make_shared<std::function<void()>>();
        *next = [this, read, count, weak = std::weak_ptr(next)] {
            read([this, count, weak](std::string data) {
                results.push_back(std::move(data));
                if (results.size() < count) (*weak.lock())();
            });
        };
        reader_ = next;
        (*next)();
    }

    FileDescriptor peer;
    std::shared_ptr<IOStream> stream;
    int close_calls = 0;
    std::vector<std::string> results;

private:
    std::shared_ptr<std::function<void()>> reader_;
};

}  // namespace course::testing
