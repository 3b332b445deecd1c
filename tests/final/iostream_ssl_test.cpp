// Tests for TLS: SSLIOStream (tornado/iostream.h), ssl_options on
// TCPServer and TCPClient, start_tls, and the contexts of tornado/netutil.h.
// Every test makes its own CA and certificates (testing_certificates.h).
// Interoperability with implementations we did not write (curl, openssl
// s_client, Python's ssl, Python Tornado) is in tests/clients/final_tls_test.py.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net_test_util.h"
#include "syscall_counter.h"
#include "test_util.h"
#include "tornado/gen.h"
#include "tornado/httpclient.h"
#include "tornado/iostream.h"
#include "tornado/ioloop.h"
#include "tornado/netutil.h"
#include "tornado/tcpclient.h"
#include "tornado/tcpserver.h"
#include "tornado/testing.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace {

using namespace std::chrono_literals;
using tornado::IOLoop;
using tornado::IOStream;
using tornado::SocketAddress;
using tornado::SSLError;
using tornado::SSLIOStream;
using tornado::SSLOptions;
using tornado::StreamClosedError;
using tornado::Task;
using tornado::testing::TestCertificates;

constexpr auto kTlsTestTimeout = std::chrono::seconds(20);

// A CA and its certificates in a temporary directory, with the options a
// server and a client of this CA use.
class CertificateDirectory {
public:
    SSLOptions server_options() const {
        return SSLOptions{.certfile = made.server_certfile, .keyfile = made.server_keyfile};
    }
    SSLOptions client_options() const { return SSLOptions{.ca_certs = made.ca_certfile}; }

    tornado::testing::TemporaryCertificates temporary;
    const TestCertificates& made = temporary.files();
};

// What a TLS echo server saw of its last connection.
struct Seen {
    std::string version;
    std::string alpn;
    std::string server_name;
    std::string client_certificate;
};

// Echoes lines, then (on "bye\n") says "bye\n" and closes.
tornado::TCPServer make_echo_server(Seen& seen, SSLOptions options) {
    return tornado::TCPServer(
        [&seen](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
            auto secure = std::dynamic_pointer_cast<SSLIOStream>(stream);
            EXPECT_NE(secure, nullptr);
            try {
                co_await secure->wait_for_handshake();
                seen.version = secure->version();
                seen.alpn = secure->selected_alpn_protocol();
                seen.server_name = secure->server_name();
                seen.client_certificate = secure->get_ssl_certificate();
                for (;;) {
                    std::string line = co_await stream->read_until("\n");
                    co_await stream->write(line);
                    if (line == "bye\n") break;
                }
            } catch (const StreamClosedError&) {
            }
            stream->close();
        },
        {}, std::move(options));
}

// The text of the SSLError that closed a stream, from a failed connect.
std::string ssl_error_text(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const StreamClosedError& closed) {
        try {
            if (closed.real_error()) std::rethrow_exception(closed.real_error());
        } catch (const SSLError& real) {
            return real.what();
        } catch (const std::exception& other) {
            return std::string("not an SSLError: ") + other.what();
        }
        return "no real error";
    } catch (const std::exception& other) {
        return std::string("not a StreamClosedError: ") + other.what();
    }
}

// Connects to the echo server at `host`, says "bye" and returns the answer
// it gives before it closes.
std::string say_bye(IOLoop& loop, std::uint16_t port, std::string host, SSLOptions options,
                    std::string server_hostname = {}) {
    tornado::TCPClient client;
    return loop.run_sync(
        [&]() -> Task<std::string> {
            std::shared_ptr<IOStream> stream =
                co_await client.connect(host, port, {}, options, server_hostname);
            co_await stream->write("bye\n");
            co_return co_await stream->read_until_close();
        },
        kTlsTestTimeout);
}

// The text of the SSLError that refused a connection.
std::string refusal(IOLoop& loop, std::uint16_t port, std::string host, SSLOptions options,
                    std::string server_hostname = {}) {
    tornado::TCPClient client;
    tornado::Future<std::shared_ptr<IOStream>> connecting(nullptr);
    loop.run_sync(
        [&]() -> Task<void> {
            connecting = client.connect(host, port, {}, options, server_hostname);
            try {
                co_await connecting;
            } catch (...) {
            }
        },
        kTlsTestTimeout);
    if (!connecting.exception()) return "not refused";
    return ssl_error_text(connecting.exception());
}

TEST(SSLIOStream, EchoesOverTLS13WithALPNAndSNI) {
    CertificateDirectory certificates;
    IOLoop loop;
    Seen seen;
    tornado::TCPServer server = make_echo_server(seen, certificates.server_options());
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    std::string client_version, client_alpn, reply;
    loop.run_sync(
        [&]() -> Task<void> {
            std::shared_ptr<IOStream> stream = co_await client.connect(
                "localhost", server.port(), {}, certificates.client_options());
            auto secure = std::dynamic_pointer_cast<SSLIOStream>(stream);
            client_version = secure->version();
            client_alpn = secure->selected_alpn_protocol();
            co_await stream->write("hello\n");
            reply = co_await stream->read_until("\n");
            co_await stream->write("bye\n");
            reply += co_await stream->read_until_close();
        },
        kTlsTestTimeout);
    EXPECT_EQ(reply, "hello\nbye\n");
    EXPECT_EQ(client_version, "TLSv1.3");
    EXPECT_EQ(seen.version, "TLSv1.3");
    EXPECT_EQ(client_alpn, "http/1.1");
    EXPECT_EQ(seen.alpn, "http/1.1");
    EXPECT_EQ(seen.server_name, "localhost");
    EXPECT_TRUE(seen.client_certificate.empty());
}

// Answers a request head with `reply`, then ends the connection: with
// TLS's close_notify, or with TCP's FIN alone, as a truncation attack (or
// a careless server) does. It then waits for the client to go, so that
// the FIN is not a reset.
Task<void> answer_then_end(std::shared_ptr<IOStream> stream, std::string reply, bool close_notify) {
    try {
        co_await stream->read_until("\r\n\r\n");
        co_await stream->write(reply);
        if (!close_notify) {
            ::shutdown(stream->fileno(), SHUT_WR);
            co_await stream->read_until_close();
        }
    } catch (const StreamClosedError&) {
    }
    stream->close();
}

tornado::TCPServer make_ending_server(std::string reply, bool close_notify, SSLOptions options) {
    return tornado::TCPServer(
        [reply, close_notify](std::shared_ptr<IOStream> stream, SocketAddress) {
            return answer_then_end(std::move(stream), reply, close_notify);
        },
        {}, std::move(options));
}

TEST(SSLIOStream, KnowsACloseWithoutCloseNotifyFromAnOrderlyOne) {
    CertificateDirectory certificates;
    IOLoop loop;
    for (bool close_notify : {true, false}) {
        tornado::TCPServer server =
            make_ending_server("the data", close_notify, certificates.server_options());
        server.listen(0, "127.0.0.1");
        tornado::TCPClient client;
        std::string data;
        bool without = false;
        loop.run_sync(
            [&]() -> Task<void> {
                std::shared_ptr<IOStream> stream = co_await client.connect(
                    "localhost", server.port(), {}, certificates.client_options());
                auto secure = std::dynamic_pointer_cast<SSLIOStream>(stream);
                co_await stream->write("hello\r\n\r\n");
                EXPECT_FALSE(secure->closed_without_close_notify());
                data = co_await stream->read_until_close();  // an ordinary close either way
                without = secure->closed_without_close_notify();
            },
            kTlsTestTimeout);
        EXPECT_EQ(data, "the data") << close_notify;
        EXPECT_EQ(without, !close_notify) << close_notify;
    }
}

// RFC 9112 section 9.8: over TLS, a body that only the close ends is whole
// only if the close came with close_notify; a body with a length needs no
// more than its length.
TEST(SSLIOStream, TheHTTPClientRefusesABodyTruncatedByAPlainClose) {
    CertificateDirectory certificates;
    IOLoop loop;
    const std::string unframed = "HTTP/1.1 200 OK\r\n\r\nthe whole body?";
    const std::string framed = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
    struct Case {
        std::string reply;
        bool close_notify;
        int code;
        std::string body;
    };
    for (const Case& each : {Case{unframed, true, 200, "the whole body?"}, Case{unframed, false, 599, ""},
                             Case{framed, false, 200, "body"}}) {
        tornado::TCPServer server =
            make_ending_server(each.reply, each.close_notify, certificates.server_options());
        server.listen(0, "127.0.0.1");
        tornado::AsyncHTTPClient client;
        tornado::HTTPRequest request;
        request.url = "https://localhost:" + std::to_string(server.port()) + "/";
        request.ca_certs = certificates.made.ca_certfile;
        tornado::HTTPResponse response = loop.run_sync(
            [&] { return client.fetch(request, /*raise_error=*/false); }, kTlsTestTimeout);
        client.close();
        std::string said;
        if (response.error) {
            try {
                std::rethrow_exception(response.error);
            } catch (const std::exception& error) {
                said = error.what();
            }
        }
        EXPECT_EQ(response.code, each.code) << each.reply << ": " << said;
        EXPECT_EQ(response.body, each.body) << each.reply;
        if (each.code == 599) {
            EXPECT_NE(said.find("Response body truncated: the TLS connection closed without "
                                "close_notify"),
                      std::string::npos)
                << said;
        }
    }
}

// `size` bytes in which a byte moved elsewhere shows: each differs from
// its neighbours, and the pattern shifts every 4 KiB.
std::string tls_test_bytes(std::size_t size) {
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + i / 4096);
    return bytes;
}

// Connects to the TLS server on `port` as a client of `certificates`' CA
// and returns what `read(stream)` brings (awaited), within kTlsTestTimeout.
template <typename Read>
std::string read_over_tls(IOLoop& loop, std::uint16_t port,
                          const CertificateDirectory& certificates, Read read) {
    tornado::TCPClient client;
    return loop.run_sync(
        [&]() -> Task<std::string> {
            std::shared_ptr<IOStream> stream =
                co_await client.connect("127.0.0.1", port, {}, certificates.client_options());
            co_return co_await read(stream);
        },
        kTlsTestTimeout);
}

// Megabytes each way in one write: OpenSSL takes them a record at a time,
// the kernel's buffers fill, and "want write" and the retry are exercised.
TEST(SSLIOStream, CarriesLargeWritesBothWays) {
    CertificateDirectory certificates;
    IOLoop loop;
    tornado::TCPServer server(
        [](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
            try {
                std::string data = co_await stream->read_bytes(8 * 1024 * 1024);
                co_await stream->write(std::move(data));
            } catch (const StreamClosedError&) {
            }
        },
        {}, certificates.server_options());
    server.listen(0, "127.0.0.1");
    std::string sent = tls_test_bytes(8 * 1024 * 1024);
    std::string echoed = read_over_tls(loop, server.port(), certificates, [&](auto stream) {
        // TLS encrypts in this process: no file goes by sendfile(), but
        // pieces go to OpenSSL without being joined first.
        EXPECT_FALSE(stream->sends_file_now());
        EXPECT_TRUE(stream->takes_pieces());
        stream->write(sent);  // not awaited: the echo starts before it all leaves
        return stream->read_bytes(sent.size());
    });
    EXPECT_TRUE(echoed == sent);
}

// Records are gathered into sends: a 1 MiB write leaves in sends of more
// than one record each (a record holds 16 KiB), and none of them more than
// one TCP segment on loopback holds (kOneSegmentWrite and the records'
// own bytes), so that no short segment follows each full one.
TEST(SSLIOStream, GathersRecordsIntoSendsOfUnderOneSegment) {
#ifndef TORNADO_TEST_COUNTS_SYSCALLS
    GTEST_SKIP() << "system calls are not counted under sanitizers";
#else
    CertificateDirectory certificates;
    IOLoop loop;
    std::string sent = tls_test_bytes(1024 * 1024);
    tornado::TCPServer server(
        [&sent](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
            try {
                co_await std::dynamic_pointer_cast<SSLIOStream>(stream)->wait_for_handshake();
                t_largest_send = 0;
                t_watched_fd = stream->fileno();
                co_await stream->write(sent);
                t_watched_fd = -1;
            } catch (const StreamClosedError&) {
            }
        },
        {}, certificates.server_options());
    server.listen(0, "127.0.0.1");
    std::string got = read_over_tls(loop, server.port(), certificates,
                                    [&](auto stream) { return stream->read_bytes(sent.size()); });
    EXPECT_TRUE(got == sent);
    EXPECT_GT(t_largest_send, 2 * 16 * 1024) << "records not gathered";
    EXPECT_LE(t_largest_send, IOStream::kOneSegmentWrite + 4 * 32) << "a send over one segment";
#endif
}

// A write is done only once all its records are in the kernel: those it
// had no room for wait in the stream, and go first when room comes. Here
// the client reads nothing, the server writes until a write is not done
// at once (the kernel is full) and closes there: the client still gets
// every write that was done, whole, in order.
TEST(SSLIOStream, AWriteIsDoneOnlyWhenAllItsRecordsAreInTheKernel) {
    CertificateDirectory certificates;
    IOLoop loop;
    constexpr std::size_t kBlock = IOStream::kOneSegmentWrite;
    constexpr std::size_t kMostBlocks = 64 * 1024 * 1024 / kBlock;
    std::string blocks = tls_test_bytes(kMostBlocks * kBlock);
    std::size_t done_at_once = 0;
    bool kernel_filled = false;
    bool server_closed = false;
    tornado::TCPServer server(
        [&](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
            co_await std::dynamic_pointer_cast<SSLIOStream>(stream)->wait_for_handshake();
            for (std::size_t k = 0; k < kMostBlocks; ++k) {
                tornado::Future<void> written =
                    stream->write(std::string_view(blocks).substr(k * kBlock, kBlock));
                if (!written.done()) {
                    kernel_filled = true;
                    break;
                }
                ++done_at_once;
            }
            stream->close();
            server_closed = true;
        },
        {}, certificates.server_options());
    server.listen(0, "127.0.0.1");
    std::string got = read_over_tls(
        loop, server.port(), certificates,
        [&](std::shared_ptr<IOStream> stream) -> Task<std::string> {
            while (!server_closed) co_await tornado::sleep(10ms);
            co_return co_await stream->read_until_close();
        });
    ASSERT_TRUE(kernel_filled) << "the kernel took " << kMostBlocks << " blocks";
    ASSERT_GE(got.size(), done_at_once * kBlock);
    EXPECT_TRUE(got == std::string_view(blocks).substr(0, got.size()));
}

// Writes that start at every 64th byte of a page: some of them sit just
// before OpenSSL's record buffer modulo 4 KiB, where send_now copies the
// record aside first (a slow memcpy otherwise). Every byte still arrives,
// in order.
TEST(SSLIOStream, CarriesWritesFromEveryPlaceInAPage) {
    CertificateDirectory certificates;
    IOLoop loop;
    constexpr std::size_t kEach = 20 * 1024;
    constexpr std::size_t kWrites = 4096 / 64;
    tornado::TCPServer server(
        [](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
            try {
                std::unique_ptr<char[]> page(new char[4096 + kEach + 4096]);
                auto address = reinterpret_cast<std::uintptr_t>(page.get());
                char* base = page.get() + (4096 - address % 4096);  // a page's first byte
                for (std::size_t i = 0; i < 4096 + kEach; ++i) {
                    base[i] = static_cast<char>(i * 13 + i / 251);
                }
                for (std::size_t k = 0; k < kWrites; ++k) {
                    co_await stream->write(std::string_view(base + 64 * k, kEach));
                }
            } catch (const StreamClosedError&) {
            }
        },
        {}, certificates.server_options());
    server.listen(0, "127.0.0.1");
    std::string got = read_over_tls(loop, server.port(), certificates,
                                    [](auto stream) { return stream->read_bytes(kWrites * kEach); });
    ASSERT_EQ(got.size(), kWrites * kEach);
    for (std::size_t k = 0; k < kWrites; ++k) {
        for (std::size_t i = 0; i < kEach; ++i) {
            std::size_t at = 64 * k + i;
            ASSERT_EQ(got[k * kEach + i], static_cast<char>(at * 13 + at / 251))
                << "write " << k << ", byte " << i;
        }
    }
}

// write(pieces) makes records from the pieces themselves: a record may
// take a 9-byte head and the start of a body, an empty piece or a piece of
// three bytes sits between two others, a piece may fill several records,
// and no two pieces are side by side in memory.
// Here the client reads nothing until the kernel is full, so some writes
// stop inside a piece, wait, and leave later from the stream's buffer;
// each round of pieces starts at another place in a page (some of them
// where OpenSSL's copy is slow). Every byte arrives once, in order.
TEST(SSLIOStream, WritesPiecesAsOneRunOfBytesWhereverTheKernelStops) {
    CertificateDirectory certificates;
    IOLoop loop;
    constexpr std::size_t kRounds = 400;
    const std::vector<std::size_t> sizes = {9, 16 * 1024 + 7, 0, 3, 40 * 1024, 9, 16 * 1024};
    std::size_t round_bytes = 0;
    for (std::size_t size : sizes) round_bytes += size;
    // Pieces apart in memory: a record made of two takes no byte between.
    constexpr std::size_t kGap = 5;
    std::string source = tls_test_bytes(round_bytes + sizes.size() * kGap + 4096);
    std::string expected;
    std::size_t written_at_once = 0;
    bool all_written = false;
    tornado::TCPServer server(
        [&](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
            try {
                co_await std::dynamic_pointer_cast<SSLIOStream>(stream)->wait_for_handshake();
                tornado::Future<void> last(nullptr);
                for (std::size_t round = 0; round < kRounds; ++round) {
                    std::vector<std::string_view> pieces;
                    std::size_t at = (round * 72) % 4096;
                    for (std::size_t size : sizes) {
                        pieces.push_back(std::string_view(source).substr(at, size));
                        expected.append(pieces.back());
                        at += size + kGap;
                    }
                    last = stream->write(pieces);
                    if (last.done()) ++written_at_once;
                }
                all_written = true;
                co_await last;
            } catch (const StreamClosedError&) {}
        },
        {}, certificates.server_options());
    server.listen(0, "127.0.0.1");
    std::string got =
        read_over_tls(loop, server.port(), certificates,
                      [&](std::shared_ptr<IOStream> stream) -> Task<std::string> {
                          while (!all_written) co_await tornado::sleep(10ms);
                          co_return co_await stream->read_bytes(kRounds * round_bytes);
                      });
    ASSERT_LT(written_at_once, kRounds) << "the kernel never filled";
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected);
}

// An error another part of the program left in this thread's OpenSSL
// queue (a failed call whose error nobody took) is not blamed on the
// stream: SSL_get_error reads the queue, so it is emptied before each
// SSL call when something is there. Before each line here, an error is
// left in it; the lines are long, so that reads stop inside a record and
// OpenSSL says "want read" (which a stale error would turn into a TLS
// error). Every echo comes back, and the stream stays open.
TEST(SSLIOStream, AnErrorLeftInTheThreadsQueueDoesNotEndTheStream) {
    CertificateDirectory certificates;
    IOLoop loop;
    Seen seen;
    tornado::TCPServer server = make_echo_server(seen, certificates.server_options());
    server.listen(0, "127.0.0.1");
    constexpr int kLines = 10;
    std::string line = tls_test_bytes(200 * 1024);
    std::replace(line.begin(), line.end(), '\n', ' ');
    line += '\n';
    std::string echoed = read_over_tls(
        loop, server.port(), certificates,
        [&](std::shared_ptr<IOStream> stream) -> Task<std::string> {
            std::string all;
            for (int k = 0; k < kLines; ++k) {
                ERR_raise(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT);
                co_await stream->write(line);
                ERR_raise(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT);
                all += co_await stream->read_until("\n", line.size());
            }
            EXPECT_FALSE(stream->closed());
            co_return all;
        });
    ASSERT_EQ(echoed.size(), kLines * line.size());
    for (int k = 0; k < kLines; ++k) {
        EXPECT_TRUE(std::string_view(echoed).substr(k * line.size(), line.size()) == line)
            << "line " << k;
    }
    ERR_clear_error();
}

TEST(SSLIOStream, AClientRefusesACertificateFromAnotherCA) {
    CertificateDirectory certificates;
    CertificateDirectory other;
    IOLoop loop;
    Seen seen;
    tornado::TCPServer server = make_echo_server(seen, other.server_options());
    server.listen(0, "127.0.0.1");
    EXPECT_EQ(refusal(loop, server.port(), "localhost", certificates.client_options()),
              "certificate verify failed: unable to get local issuer certificate "
              "(connecting to localhost)");
}

TEST(SSLIOStream, AClientRefusesACertificateForAnotherName) {
    CertificateDirectory certificates;
    IOLoop loop;
    Seen seen;
    tornado::TCPServer server = make_echo_server(seen, certificates.server_options());
    server.listen(0, "127.0.0.1");
    EXPECT_EQ(refusal(loop, server.port(), "127.0.0.1", certificates.client_options(),
                      "example.com"),
              "certificate verify failed: hostname mismatch (connecting to example.com)");
}

TEST(SSLIOStream, ChecksAnIPAddressAgainstTheCertificatesIPEntries) {
    CertificateDirectory certificates;
    IOLoop loop;
    Seen seen;
    tornado::TCPServer server = make_echo_server(seen, certificates.server_options());
    server.listen(0, "127.0.0.1");
    EXPECT_EQ(say_bye(loop, server.port(), "127.0.0.1", certificates.client_options()), "bye\n");
    EXPECT_EQ(seen.server_name, "");  // SNI carries no addresses
}

TEST(SSLIOStream, VerifyNoneAcceptsAnyCertificate) {
    CertificateDirectory certificates;
    CertificateDirectory other;
    IOLoop loop;
    Seen seen;
    tornado::TCPServer server = make_echo_server(seen, other.server_options());
    server.listen(0, "127.0.0.1");
    SSLOptions unchecked{.cert_reqs = SSLOptions::Verify::none};
    EXPECT_EQ(say_bye(loop, server.port(), "127.0.0.1", unchecked, "example.com"), "bye\n");
}

TEST(SSLIOStream, AServerCanRequireAClientCertificate) {
    CertificateDirectory certificates;
    IOLoop loop;
    Seen seen;
    SSLOptions options = certificates.server_options();
    options.cert_reqs = SSLOptions::Verify::required;
    options.ca_certs = certificates.made.ca_certfile;
    tornado::TCPServer server = make_echo_server(seen, options);
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    // Without a certificate: in TLS 1.3 the client's handshake is over
    // before the server has checked, so the refusal shows on the first read.
    bool refused = false;
    loop.run_sync(
        [&]() -> Task<void> {
            try {
                std::shared_ptr<IOStream> stream = co_await client.connect(
                    "localhost", server.port(), {}, certificates.client_options());
                co_await stream->write("hello\n");
                co_await stream->read_until("\n");
            } catch (const StreamClosedError&) {
                refused = true;
            }
        },
        kTlsTestTimeout);
    EXPECT_TRUE(refused);
    // With one.
    SSLOptions with_certificate = certificates.client_options();
    with_certificate.certfile = certificates.made.client_certfile;
    with_certificate.keyfile = certificates.made.client_keyfile;
    EXPECT_EQ(say_bye(loop, server.port(), "localhost", with_certificate), "bye\n");
    EXPECT_FALSE(seen.client_certificate.empty());
}

// As nginx: plain HTTP on the TLS port gets a 400 that says why.
TEST(SSLIOStream, PlainHTTPOnTheTLSPortIsAnswered400) {
    CertificateDirectory certificates;
    IOLoop loop;
    Seen seen;
    tornado::TCPServer server = make_echo_server(seen, certificates.server_options());
    server.listen(0, "127.0.0.1");
    tornado::FileDescriptor socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    SocketAddress address = server.addresses().front();
    ASSERT_EQ(::connect(socket.get(), address.data(), address.size()), 0);
    tornado::testing::send_all(socket.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string answer;
    std::atomic<bool> answered = false;
    std::thread reader([&] {
        answer = tornado::testing::recv_until_close(socket.get());
        answered = true;
    });
    tornado::testing::run_until(loop, [&] { return answered.load(); });
    reader.join();
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 Bad Request\r\n")) << answer;
    EXPECT_TRUE(answer.ends_with("\r\n\r\nThe plain HTTP request was sent to an HTTPS port\n"))
        << answer;
}

// Clients that connect and say nothing are dropped after the handshake
// timeout, and meanwhile a real client is served.
TEST(SSLIOStream, StalledHandshakesAreDroppedAndDoNotBlockOthers) {
    CertificateDirectory certificates;
    IOLoop loop;
    Seen seen;
    SSLOptions options = certificates.server_options();
    options.handshake_timeout = 3s;
    tornado::TCPServer server = make_echo_server(seen, options);
    server.listen(0, "127.0.0.1");
    SocketAddress address = server.addresses().front();
    std::vector<tornado::FileDescriptor> silent;
    for (int i = 0; i < 50; ++i) {
        silent.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        ASSERT_EQ(::connect(silent.back().get(), address.data(), address.size()), 0);
    }
    EXPECT_EQ(say_bye(loop, server.port(), "localhost", certificates.client_options()), "bye\n");
    // Served while the silent ones still held their connections: it did
    // not wait for their timeouts.
    for (auto& socket : silent) EXPECT_FALSE(tornado::testing::wait_readable(socket.get(), 0ms));
    // Each silent client then sees its connection closed.
    tornado::testing::run_until(loop, [&] {
        for (auto& socket : silent) {
            if (!tornado::testing::wait_readable(socket.get(), 0ms)) return false;
        }
        return true;
    });
    for (auto& socket : silent) {
        char byte;
        EXPECT_EQ(::recv(socket.get(), &byte, 1, MSG_DONTWAIT), 0);
    }
}

// STARTTLS: a plain conversation that turns into TLS on both sides.
TEST(SSLIOStream, StartTLSTurnsAPlainStreamIntoATLSOne) {
    CertificateDirectory certificates;
    IOLoop loop;
    tornado::TCPServer server(
        [&](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
            try {
                std::string line = co_await stream->read_until("\n");
                EXPECT_EQ(line, "STARTTLS\n");
                co_await stream->write("GO\n");
                std::shared_ptr<SSLIOStream> secure =
                    co_await stream->start_tls(true, certificates.server_options());
                std::string secret = co_await secure->read_until("\n");
                co_await secure->write("got " + secret);
                secure->close();
            } catch (const StreamClosedError&) {
            }
        });
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    std::string reply = loop.run_sync(
        [&]() -> Task<std::string> {
            std::shared_ptr<IOStream> plain = co_await client.connect("127.0.0.1", server.port());
            co_await plain->write("STARTTLS\n");
            EXPECT_EQ(co_await plain->read_until("\n"), "GO\n");
            std::shared_ptr<SSLIOStream> secure =
                co_await plain->start_tls(false, certificates.client_options(), "localhost");
            EXPECT_TRUE(plain->closed());
            co_await secure->write("secret\n");
            co_return co_await secure->read_until_close();
        },
        kTlsTestTimeout);
    EXPECT_EQ(reply, "got secret\n");
}

TEST(SSLIOStream, StartTLSRefusesABusyStream) {
    IOLoop loop;
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    std::shared_ptr<IOStream> stream = IOStream::create(std::move(pair.ours));
    tornado::Future<std::string> reading = stream->read_until("\n");
    EXPECT_THROW(stream->start_tls(true), std::logic_error);
    stream->close();
}

TEST(SSLOptions, AMissingCertificateIsAnErrorNamingTheFile) {
    IOLoop loop;
    try {
        tornado::TCPServer server([](std::shared_ptr<IOStream>, SocketAddress) {}, {},
                                  SSLOptions{.certfile = "/nonexistent/cert.pem"});
        FAIL() << "no error";
    } catch (const SSLError& error) {
        EXPECT_TRUE(std::string(error.what()).starts_with(
            "cannot load the certificate from '/nonexistent/cert.pem': "))
            << error.what();
    }
}

TEST(SSLOptions, AKeyThatDoesNotMatchIsRefused) {
    CertificateDirectory certificates;
    CertificateDirectory other;
    SSLOptions options{.certfile = certificates.made.server_certfile,
                       .keyfile = other.made.server_keyfile};
    try {
        tornado::ssl_options_to_context(options, true);
        FAIL() << "no error";
    } catch (const SSLError& error) {
        EXPECT_TRUE(std::string(error.what()).starts_with("cannot load the private key from '") ||
                    std::string(error.what()).starts_with("the key in '"))
            << error.what();
    }
}

TEST(SSLOptions, AServerNeedsACertificate) {
    EXPECT_THROW(tornado::ssl_options_to_context(SSLOptions{}, true), SSLError);
}

// The client's default context is made once: loading the system's CA store
// is the expensive part.
TEST(SSLOptions, TheClientDefaultIsShared) {
    EXPECT_EQ(tornado::ssl_options_to_context(SSLOptions{}, false),
              tornado::ssl_options_to_context(SSLOptions{}, false));
}

// --- HTTPS: HTTPServer, AsyncHTTPClient, AsyncHTTPSTestCase ------------------------------------

class WhereHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        write(request().protocol + " " + request().full_url());
    }
    void post(const tornado::PathArgs&) override {
        write(std::to_string(request().body.size()));
    }
};

class EchoSocket : public tornado::WebSocketHandler {
public:
    void on_message(std::string message, bool binary) override { write_message(message, binary); }
};

class HTTPSApp : public tornado::testing::AsyncHTTPSTestCase {
protected:
    std::shared_ptr<tornado::HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<tornado::Application>(std::vector<tornado::URLSpec>{
            {"/where", tornado::handler<WhereHandler>()},
            {"/echo", tornado::handler<EchoSocket>()}});
    }
};

TEST_F(HTTPSApp, ServesHTTPSAndTheRequestKnowsIt) {
    tornado::HTTPResponse response = fetch("/where");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "https " + get_url("/where"));
    EXPECT_TRUE(get_url("/").starts_with("https://127.0.0.1:"));
}

// A proxy's CONNECT tunnel: bytes both ways until either side closes.
Task<void> pipe_bytes(std::shared_ptr<IOStream> from, std::shared_ptr<IOStream> to) {
    try {
        for (;;) {
            std::string piece = co_await from->read_bytes(64 * 1024, /*partial=*/true);
            co_await to->write(std::move(piece));
        }
    } catch (const StreamClosedError&) {
    }
    to->close();
}

// A minimal tunnelling proxy: "CONNECT host:port", 200, then the pipe.
Task<void> tunnel(std::shared_ptr<IOStream> client, std::shared_ptr<std::vector<std::string>> heads) {
    try {
        std::string head = co_await client->read_until("\r\n\r\n", 64 * 1024);
        heads->push_back(head);
        std::string target = head.substr(8, head.find(' ', 8) - 8);  // after "CONNECT "
        std::size_t colon = target.rfind(':');
        tornado::TCPClient tcp;
        std::shared_ptr<IOStream> upstream =
            co_await tcp.connect(target.substr(0, colon), static_cast<std::uint16_t>(std::stoi(target.substr(colon + 1))));
        co_await client->write("HTTP/1.1 200 Connection established\r\n\r\n");
        pipe_bytes(client, upstream).detach();
        co_await pipe_bytes(upstream, client);
    } catch (const StreamClosedError&) {
    }
}

TEST_F(HTTPSApp, AnHttpsURLGoesThroughTheProxysTunnel) {
    auto heads = std::make_shared<std::vector<std::string>>();
    tornado::TCPServer proxy([heads](std::shared_ptr<IOStream> stream, SocketAddress) {
        return tunnel(std::move(stream), heads);
    });
    proxy.listen(0, "127.0.0.1");
    tornado::HTTPRequest request;
    request.proxy_host = "127.0.0.1";
    request.proxy_port = proxy.port();
    request.proxy_username = "user";
    tornado::HTTPResponse response = fetch("/where", request);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "https " + get_url("/where"));  // TLS with the server itself
    ASSERT_EQ(heads->size(), 1u);
    std::string host_port = "127.0.0.1:" + std::to_string(get_http_port());
    EXPECT_TRUE((*heads)[0].starts_with("CONNECT " + host_port + " HTTP/1.1\r\nHost: " + host_port + "\r\n"))
        << (*heads)[0];
    EXPECT_NE((*heads)[0].find("Proxy-Authorization: Basic dXNlcjo=\r\n"), std::string::npos);
}

TEST_F(HTTPSApp, CarriesALargeBody) {
    tornado::HTTPRequest request;
    request.method = "POST";
    request.body = std::string(3 * 1024 * 1024 + 17, 'b');
    tornado::HTTPResponse response = fetch("/where", request);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, std::to_string(3 * 1024 * 1024 + 17));
}

TEST_F(HTTPSApp, AnUntrustedCertificateIsA599ThatSaysWhy) {
    CertificateDirectory other;
    tornado::HTTPRequest request;
    request.ca_certs = other.made.ca_certfile;
    tornado::HTTPResponse response = fetch("/where", request);
    EXPECT_EQ(response.code, 599);
    ASSERT_TRUE(response.error);
    try {
        std::rethrow_exception(response.error);
    } catch (const tornado::HTTPClientError& error) {
        EXPECT_EQ(error.message(),
                  "certificate verify failed: unable to get local issuer certificate "
                  "(connecting to 127.0.0.1)");
    }
}

TEST_F(HTTPSApp, ValidateCertFalseSkipsTheCheck) {
    CertificateDirectory other;
    tornado::HTTPRequest request;
    request.ca_certs = other.made.ca_certfile;
    request.validate_cert = false;
    EXPECT_EQ(fetch("/where", request).code, 200);
}

// A redirect from http:// to https:// (what every site does) is followed.
TEST_F(HTTPSApp, ARedirectFromHTTPToHTTPSIsFollowed) {
    tornado::Application plain_app(std::vector<tornado::URLSpec>{
        {"/old", tornado::handler<tornado::RedirectHandler>(get_url("/where"), false)}});
    tornado::HTTPServer& plain = plain_app.listen(0, "127.0.0.1");
    tornado::HTTPResponse response =
        fetch("http://127.0.0.1:" + std::to_string(plain.port()) + "/old");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "https " + get_url("/where"));
    EXPECT_EQ(response.effective_url, get_url("/where"));
    plain.stop();
    run_sync([&] { return plain.close_all_connections(); });
}

TEST_F(HTTPSApp, WebSocketOverTLS) {
    tornado::HTTPRequest request;
    request.url = "wss://localhost:" + std::to_string(get_http_port()) + "/echo";
    request.ca_certs = certificates().ca_certfile;
    std::string big(200000, 'w');
    std::optional<tornado::WebSocketMessage> echoed = run_sync(
        [&]() -> Task<std::optional<tornado::WebSocketMessage>> {
            std::unique_ptr<tornado::WebSocketClientConnection> ws =
                co_await tornado::websocket_connect(request);
            co_await ws->write_message(big);
            std::optional<tornado::WebSocketMessage> message = co_await ws->read_message();
            ws->close();
            co_return message;
        });
    ASSERT_TRUE(echoed);
    EXPECT_EQ(echoed->data, big);
}

TEST_F(HTTPSApp, PlainHTTPToTheHTTPSPortGetsA400) {
    std::string url = "http://127.0.0.1:" + std::to_string(get_http_port()) + "/where";
    tornado::HTTPResponse response = fetch(url);
    EXPECT_EQ(response.code, 400);
    EXPECT_EQ(response.body, "The plain HTTP request was sent to an HTTPS port\n");
}

}  // namespace
