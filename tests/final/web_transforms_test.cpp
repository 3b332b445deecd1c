// Tests of final/src/web/web_transforms.cpp. compress_response:
// GZipContentEncoding, the output transform that gzips responses
// (Tornado's tornado.web.GZipContentEncoding), through a real server and
// client (AsyncHTTPTestCase). The client is told not to inflate
// (decompress_response off), so that each test sees the bytes sent.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gzip_test_util.h"
#include "tornado/testing.h"
#include "tornado/web.h"

namespace tornado {
namespace {

using testing::gunzip;

HTTPRequest accepting_gzip() {
    HTTPRequest request;
    request.headers.set("Accept-Encoding", "gzip, deflate");
    request.decompress_response = false;
    return request;
}

// 2,000 bytes of text that compresses well.
std::string long_text() {
    std::string text;
    while (text.size() < 2000) text += "Tornado, rebuilt in C++. ";
    return text;
}

class TextHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write(long_text()); }
    void head(const PathArgs& args) override { get(args); }
};

class ShortHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello, world"); }
};

class PngHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        set_header("Content-Type", "image/png");
        write(long_text());
    }
};

class AlreadyEncodedHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        set_header("Content-Encoding", "br");
        write(long_text());
    }
};

class VaryHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        set_header("Vary", "Cookie");
        write(long_text());
    }
};

// Three short pieces, each flushed: a streamed response is gzipped whatever
// its size, and each piece reaches the client when flushed.
class StreamHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        for (const char* piece : {"one ", "two ", "three"}) {
            write(piece);
            co_await flush();
        }
        finish();
    }
};

class GZipTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.compress_response = true;
        return std::make_shared<Application>(
            std::vector<URLSpec>{
                {"/text", handler<TextHandler>()},
                {"/short", handler<ShortHandler>()},
                {"/png", handler<PngHandler>()},
                {"/encoded", handler<AlreadyEncodedHandler>()},
                {"/vary", handler<VaryHandler>()},
                {"/stream", handler<StreamHandler>()},
            },
            settings);
    }
};

TEST_F(GZipTest, ALongTextResponseIsGzippedWithItsNewLength) {
    HTTPResponse response = fetch("/text", accepting_gzip());
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.headers.get("Content-Encoding"), "gzip");
    EXPECT_EQ(response.headers.get("Vary"), "Accept-Encoding");
    EXPECT_EQ(response.headers.get("Content-Length"), std::to_string(response.body.size()));
    EXPECT_LT(response.body.size(), long_text().size() / 4);
    EXPECT_EQ(gunzip(response.body), long_text());
}

TEST_F(GZipTest, NotForAClientThatDoesNotAskButVaryIsSet) {
    HTTPRequest plain;
    plain.decompress_response = false;  // which would ask
    HTTPResponse response = fetch("/text", plain);
    EXPECT_FALSE(response.headers.contains("Content-Encoding"));
    EXPECT_EQ(response.headers.get("Vary"), "Accept-Encoding");
    EXPECT_EQ(response.body, long_text());
}

TEST_F(GZipTest, NotForAShortWholeResponse) {
    HTTPResponse response = fetch("/short", accepting_gzip());
    EXPECT_FALSE(response.headers.contains("Content-Encoding"));
    EXPECT_EQ(response.headers.get("Vary"), "Accept-Encoding");
    EXPECT_EQ(response.body, "Hello, world");
}

TEST_F(GZipTest, NotForATypeThatIsNotText) {
    HTTPResponse response = fetch("/png", accepting_gzip());
    EXPECT_FALSE(response.headers.contains("Content-Encoding"));
    EXPECT_EQ(response.body, long_text());
}

TEST_F(GZipTest, NotWhenTheHandlerEncodedItAlready) {
    HTTPResponse response = fetch("/encoded", accepting_gzip());
    EXPECT_EQ(response.headers.get("Content-Encoding"), "br");
    EXPECT_EQ(response.body, long_text());
}

TEST_F(GZipTest, AVaryOfTheHandlersIsKept) {
    EXPECT_EQ(fetch("/vary", accepting_gzip()).headers.get("Vary"), "Cookie, Accept-Encoding");
}

TEST_F(GZipTest, AFlushedResponseIsGzippedPieceByPieceAndChunked) {
    HTTPResponse response = fetch("/stream", accepting_gzip());
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.headers.get("Content-Encoding"), "gzip");
    EXPECT_EQ(response.headers.get("Transfer-Encoding"), "chunked");
    EXPECT_FALSE(response.headers.contains("Content-Length"));
    EXPECT_EQ(gunzip(response.body), "one two three");
}

TEST_F(GZipTest, HeadGetsTheHeadersOfTheGzippedGet) {
    HTTPRequest request = accepting_gzip();
    request.method = "HEAD";
    HTTPResponse head = fetch("/text", request);
    HTTPResponse get = fetch("/text", accepting_gzip());
    EXPECT_EQ(head.headers.get("Content-Encoding"), "gzip");
    EXPECT_EQ(head.headers.get("Content-Length"), get.headers.get("Content-Length"));
    EXPECT_EQ(head.body, "");
}

TEST(GZipContentEncoding, CompressibleTypes) {
    EXPECT_TRUE(GZipContentEncoding::compressible_type("text/html"));
    EXPECT_TRUE(GZipContentEncoding::compressible_type("text/css"));
    EXPECT_TRUE(GZipContentEncoding::compressible_type("application/json"));
    EXPECT_TRUE(GZipContentEncoding::compressible_type("image/svg+xml"));
    EXPECT_FALSE(GZipContentEncoding::compressible_type("image/png"));
    EXPECT_FALSE(GZipContentEncoding::compressible_type("application/octet-stream"));
}

// StaticFileHandler sends a big file in pieces: gzipped on the way, chunked.
class GZipStaticTest : public testing::AsyncHTTPTestCase {
protected:
    void SetUp() override {
        root_ = std::filesystem::temp_directory_path() / ("tornado_gzip_static_" + std::to_string(::getpid()));
        std::filesystem::create_directories(root_);
        while (text_.size() < 200 * 1024) text_ += "line " + std::to_string(text_.size()) + "\n";
        std::ofstream(root_ / "big.txt", std::ios::binary) << text_;
        AsyncHTTPTestCase::SetUp();
    }
    void TearDown() override {
        AsyncHTTPTestCase::TearDown();
        std::filesystem::remove_all(root_);
    }
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.compress_response = true;
        settings.static_path = root_.string();
        return std::make_shared<Application>(std::vector<URLSpec>{}, settings);
    }

    std::filesystem::path root_;
    std::string text_;
};

TEST_F(GZipStaticTest, ABigFileIsGzippedInPieces) {
    HTTPResponse response = fetch("/static/big.txt", accepting_gzip());
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.headers.get("Content-Encoding"), "gzip");
    EXPECT_FALSE(response.headers.contains("Content-Length"));
    EXPECT_EQ(gunzip(response.body), text_);
    HTTPRequest plain;
    plain.decompress_response = false;
    EXPECT_EQ(fetch("/static/big.txt", plain).body, text_);
}

// What Tornado's own client does by default: asks for gzip, inflates it.
TEST_F(GZipTest, OurClientAsksForGzipAndInflatesIt) {
    HTTPResponse response = fetch("/text");
    EXPECT_EQ(response.headers.get("X-Consumed-Content-Encoding"), "gzip");
    EXPECT_FALSE(response.headers.contains("Content-Encoding"));
    EXPECT_EQ(response.body, long_text());
    EXPECT_EQ(fetch("/stream").body, "one two three");
}

// compress_response is off unless asked for: no Vary, no gzip.
class NoGZipTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<Application>(std::vector<URLSpec>{{"/text", handler<TextHandler>()}});
    }
};

TEST_F(NoGZipTest, OffByDefault) {
    HTTPResponse response = fetch("/text", accepting_gzip());
    EXPECT_FALSE(response.headers.contains("Content-Encoding"));
    EXPECT_FALSE(response.headers.contains("Vary"));
    EXPECT_EQ(response.body, long_text());
}

}  // namespace
}  // namespace tornado
