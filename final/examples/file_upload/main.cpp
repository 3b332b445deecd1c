// file_upload: Tornado's demos/file_upload receiver. Two ways to send a file:
//
//   POST /post   a multipart/form-data form (the page at / has one): the
//                whole body is read, then parsed into request().files
//   PUT /NAME    the raw file as the body, streamed: stream_request_body()
//                hands each piece to data_received() as it arrives, so a
//                1 GB upload never sits in memory
//
//   build/bin/final_file_upload [--port=8888] [--address=127.0.0.1]
//   curl -F file=@README.md http://127.0.0.1:8888/post
//   curl -T big.iso http://127.0.0.1:8888/big.iso
#include <cstdio>
#include <string>

#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

static auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
static auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
static auto& max_upload = tornado::define("max_upload_mb", 1024, "largest PUT body, in MiB");

constexpr std::string_view kPage = R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Upload</title></head>
<body>
<h1>Upload files</h1>
<form action="/post" method="post" enctype="multipart/form-data">
  <input type="file" name="file" multiple>
  <button type="submit">Upload</button>
</form>
</body></html>
)";

class PageHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write(kPage); }
};

// The form: every file of every field, with its size.
class POSTHandler : public tornado::RequestHandler {
public:
    void post(const tornado::PathArgs&) override {
        std::string report;
        for (const auto& [field, files] : request().files) {
            for (const tornado::HTTPFile& file : files) {
                tornado::app_log.info("POST \"{}\" \"{}\" {} bytes", file.filename,
                                      file.content_type, file.body.size());
                report += file.filename + ": " + std::to_string(file.body.size()) + " bytes\n";
            }
        }
        set_header("Content-Type", "text/plain; charset=UTF-8");
        write(report.empty() ? std::string("no files\n") : report);
    }
};

// A raw upload, counted piece by piece as it streams in.
class PUTHandler : public tornado::RequestHandler {
public:
    bool stream_request_body() const override { return true; }

    void prepare() override {
        // The server's 10 MiB limit is for everyone else; this route takes more.
        request().connection->set_max_body_size(static_cast<std::size_t>(*max_upload) << 20);
    }

    void data_received(std::string chunk) override {
        bytes_read_ += chunk.size();
        ++pieces_;
    }

    void put(const tornado::PathArgs& args) override {
        std::string_view type = request().headers.get_first("Content-Type", "(none)");
        tornado::app_log.info("PUT \"{}\" \"{}\" {} bytes in {} pieces", args[0], type, bytes_read_,
                              pieces_);
        set_header("Content-Type", "text/plain; charset=UTF-8");
        write(args[0] + ": " + std::to_string(bytes_read_) + " bytes\n");
    }

private:
    std::size_t bytes_read_ = 0;
    std::size_t pieces_ = 0;
};

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    tornado::IOLoop loop;
    tornado::Application app({
        {"/", tornado::handler<PageHandler>()},
        {"/post", tornado::handler<POSTHandler>()},
        {"/(.+)", tornado::handler<PUTHandler>()},
    });
    tornado::HTTPServerOptions server_options;
    server_options.max_body_size = 10 << 20;
    tornado::HTTPServer& server =
        app.listen(static_cast<std::uint16_t>(*port), *address, server_options);
    std::printf("Listening on http://%s:%u/\n", address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    loop.install_signal_handlers();
    loop.start();
    return 0;
}
