// grpc: a gRPC service on final/'s handlers, over HTTP/2 (final/http2),
// called by any gRPC client: Python's grpcio in its test.
//
//   build/bin/final_grpc [--port=50051] [--certfile=cert.pem --keyfile=key.pem]
//
// numbers.proto is the service: one method of each of gRPC's four kinds
// (unary, server streaming, client streaming, bidirectional). grpc.h is
// the layer between gRPC and a RequestHandler: the messages' framing, the
// status in trailers, the deadline, errors as gRPC status codes.
//
// It prints "Listening on http://ADDRESS:PORT/" once it accepts (--port=0
// picks a free port), and stops on SIGINT or SIGTERM.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "grpc.h"
#include "numbers.pb.h"
#include "tornado/gen.h"
#include "tornado/http2.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"

static auto& port = tornado::define("port", 50051, "run on the given port (0: any free port)");
static auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
static auto& certfile =
    tornado::define("certfile", std::string(), "serve over TLS: PEM certificate");
static auto& keyfile = tornado::define("keyfile", std::string(), "serve over TLS: PEM private key");

namespace {

// The largest number whose square fits in 64 bits.
constexpr std::int64_t kLargestSquarable = 3'037'000'499;

tornado::Task<void> square(std::shared_ptr<GrpcHandler> call) {
    numbers::Number number = co_await receive_one<numbers::Number>(call);
    if (number.value() > kLargestSquarable || number.value() < -kLargestSquarable)
        throw GrpcError(
            GrpcStatus::out_of_range,
            "the square of " + std::to_string(number.value()) + " does not fit in 64 bits");
    numbers::Number squared;
    squared.set_value(number.value() * number.value());
    co_await send(*call, squared);
}

// Each number waits for the one before it to be taken by the client's
// windows (send's Future): a client that reads slowly slows the count.
tornado::Task<void> count_to(std::shared_ptr<GrpcHandler> call) {
    numbers::Count count = co_await receive_one<numbers::Count>(call);
    for (std::int64_t i = 1; i <= count.to(); ++i) {
        if (i > 1 && count.interval_ms() > 0)
            co_await tornado::sleep(std::chrono::milliseconds(count.interval_ms()));
        numbers::Number number;
        number.set_value(i);
        co_await send(*call, number);
    }
}

tornado::Task<void> sum(std::shared_ptr<GrpcHandler> call) {
    std::int64_t total = 0;
    while (std::optional<numbers::Number> number = co_await receive<numbers::Number>(call))
        total += number->value();
    numbers::Number answer;
    answer.set_value(total);
    co_await send(*call, answer);
}

// Answers each number as it comes, before the next is sent: the client
// may wait for each total before it sends the next number.
tornado::Task<void> running_total(std::shared_ptr<GrpcHandler> call) {
    std::int64_t total = 0;
    while (std::optional<numbers::Number> number = co_await receive<numbers::Number>(call)) {
        total += number->value();
        numbers::Number answer;
        answer.set_value(total);
        co_await send(*call, answer);
    }
}

}  // namespace

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    tornado::IOLoop loop;
    tornado::Application app({
        {"/numbers.Numbers/Square", tornado::handler<GrpcHandler>(&square)},
        {"/numbers.Numbers/CountTo", tornado::handler<GrpcHandler>(&count_to)},
        {"/numbers.Numbers/Sum", tornado::handler<GrpcHandler>(&sum)},
        {"/numbers.Numbers/RunningTotal", tornado::handler<GrpcHandler>(&running_total)},
        // Any other method: UNIMPLEMENTED, as a gRPC status.
        {"/.*", tornado::handler<GrpcHandler>(GrpcMethod{nullptr})},
    });
    tornado::HTTPServerOptions options;
    options.http2 = true;
    if (!certfile->empty())
        options.ssl_options = tornado::SSLOptions{.certfile = *certfile, .keyfile = *keyfile};
    tornado::HTTPServer& server = app.listen(static_cast<std::uint16_t>(*port), *address, options);
    std::printf("Listening on %s://%s:%u/\n", certfile->empty() ? "http" : "https",
                address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    loop.install_signal_handlers();
    loop.start();
    return 0;
}
