// Tests of StaticFileHandler (final/src/web/web_static.cpp): files from a
// temporary folder served through an Application, as a client sees them:
// types, Etags and Last-Modified, ranges, versioned URLs, and paths that
// try to leave the root.
#include <gtest/gtest.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http_test_util.h"
#include "test_util.h"
#include "tornado/testing.h"
#include "tornado/web.h"
#include "web/static_file_cache.h"

// This binary defines sendfile itself (the executable's definition wins
// over libc's), so the tests can count the library's calls; they go on to
// the kernel. Sanitizer builds intercept calls themselves: no counting.
namespace {
int g_sendfile_calls = 0;
}  // namespace
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
constexpr bool kCountsSendfile = true;
extern "C" ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
    ++g_sendfile_calls;
    return static_cast<ssize_t>(::syscall(SYS_sendfile, out_fd, in_fd, offset, count));
}
#else
constexpr bool kCountsSendfile = false;
#endif

namespace tornado {
namespace {

using namespace std::chrono_literals;
using testing::with_header;

class StaticTest : public testing::AsyncHTTPTestCase {
protected:
    void SetUp() override {
        root_ = std::filesystem::temp_directory_path() /
                ("tornado_static_" + std::to_string(::getpid()));
        std::filesystem::create_directories(root_ / "sub");
        write_file("hello.txt", "Hello from a file\n");
        write_file("sub/style.css", "body {}\n");
        big_.resize(300 * 1024);
        for (std::size_t i = 0; i < big_.size(); ++i) big_[i] = static_cast<char>(i * 7 % 251);
        write_file("big.bin", big_);
        std::ofstream(root_.parent_path() / ("tornado_secret_" + std::to_string(::getpid())))
            << "secret";
        AsyncHTTPTestCase::SetUp();
    }
    void TearDown() override {
        AsyncHTTPTestCase::TearDown();
        std::filesystem::remove_all(root_);
        std::filesystem::remove(root_.parent_path() /
                                ("tornado_secret_" + std::to_string(::getpid())));
    }
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.static_path = root_.string();
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/url/(.*)", handler<StaticUrlHandler>()}}, settings);
    }
    void write_file(const std::string& name, const std::string& content) {
        std::ofstream(root_ / name, std::ios::binary) << content;
    }
    class StaticUrlHandler : public RequestHandler {
    public:
        void get(const PathArgs& args) override { write(static_url(args[0])); }
    };

    std::filesystem::path root_;
    std::string big_;
};

TEST_F(StaticTest, ServesFilesWithTypeEtagAndLastModified) {
    HTTPResponse response = fetch("/static/hello.txt");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "Hello from a file\n");
    EXPECT_EQ(response.headers.get("Content-Type"), "text/plain");
    EXPECT_EQ(response.headers.get("Accept-Ranges"), "bytes");
    EXPECT_EQ(response.headers.get("Etag").size(), 128u + 2);  // a quoted SHA-512
    EXPECT_FALSE(response.headers.get("Last-Modified").empty());
    EXPECT_EQ(fetch("/static/sub/style.css").headers.get("Content-Type"), "text/css");
}

// The type comes from the last segment's extension, in any case, as
// Python's mimetypes (which Tornado asks) finds it.
TEST(StaticFileHandlerType, ComesFromTheLastExtensionInAnyCase) {
    EXPECT_EQ(StaticFileHandler::content_type_for("/srv/www/style.css"), "text/css");
    EXPECT_EQ(StaticFileHandler::content_type_for("/srv/www/STYLE.Css"), "text/css");
    EXPECT_EQ(StaticFileHandler::content_type_for("font.WOFF2"), "font/woff2");
    EXPECT_EQ(StaticFileHandler::content_type_for("a/backup.tar.gz"), "application/gzip");
    // A longer or shorter extension that starts like a known one is not it.
    EXPECT_EQ(StaticFileHandler::content_type_for("a/page.html5"), "application/octet-stream");
    EXPECT_EQ(StaticFileHandler::content_type_for("a/page.ht"), "application/octet-stream");
    EXPECT_EQ(StaticFileHandler::content_type_for("a/font.woff2x"), "application/octet-stream");
    // A dot in a folder's name, a name that starts with its only dot, or
    // one that ends with it: no extension.
    EXPECT_EQ(StaticFileHandler::content_type_for("/srv/site.css/readme"),
              "application/octet-stream");
    EXPECT_EQ(StaticFileHandler::content_type_for("/home/me/.css"), "application/octet-stream");
    EXPECT_EQ(StaticFileHandler::content_type_for("/srv/www/file."), "application/octet-stream");
}

TEST_F(StaticTest, ConditionalRequestsAnswer304) {
    HTTPResponse response = fetch("/static/hello.txt");
    EXPECT_EQ(
        fetch("/static/hello.txt", with_header("If-None-Match", response.headers.get("Etag"))).code,
        304);
    EXPECT_EQ(fetch("/static/hello.txt",
                    with_header("If-Modified-Since", response.headers.get("Last-Modified")))
                  .code,
              304);
    EXPECT_EQ(fetch("/static/hello.txt",
                    with_header("If-Modified-Since", "Mon, 01 Jan 1990 00:00:00 GMT"))
                  .code,
              200);
}

TEST_F(StaticTest, RangesGive206And416) {
    HTTPResponse part = fetch("/static/hello.txt", with_header("Range", "bytes=0-4"));
    EXPECT_EQ(part.code, 206);
    EXPECT_EQ(part.body, "Hello");
    EXPECT_EQ(part.headers.get("Content-Range"), "bytes 0-4/18");
    HTTPResponse tail = fetch("/static/hello.txt", with_header("Range", "bytes=-5"));
    EXPECT_EQ(tail.body, "file\n");
    HTTPResponse beyond = fetch("/static/hello.txt", with_header("Range", "bytes=100-"));
    EXPECT_EQ(beyond.code, 416);
    EXPECT_EQ(beyond.headers.get("Content-Range"), "bytes */18");
}

TEST_F(StaticTest, RangeEdgeCases) {
    // All of the file is a 200, not a 206.
    HTTPResponse whole = fetch("/static/hello.txt", with_header("Range", "bytes=0-"));
    EXPECT_EQ(whole.code, 200);
    EXPECT_EQ(whole.body, "Hello from a file\n");
    EXPECT_EQ(whole.headers.get("Content-Range"), "");
    // An end past the file is the rest of the file.
    HTTPResponse rest = fetch("/static/hello.txt", with_header("Range", "bytes=6-1000"));
    EXPECT_EQ(rest.code, 206);
    EXPECT_EQ(rest.body, "from a file\n");
    EXPECT_EQ(rest.headers.get("Content-Range"), "bytes 6-17/18");
    // The empty suffix and a backwards range cannot be satisfied.
    EXPECT_EQ(fetch("/static/hello.txt", with_header("Range", "bytes=-0")).code, 416);
    EXPECT_EQ(fetch("/static/hello.txt", with_header("Range", "bytes=5-2")).code, 416);
    // Two ranges are ignored: the whole file.
    HTTPResponse two = fetch("/static/hello.txt", with_header("Range", "bytes=0-1,4-5"));
    EXPECT_EQ(two.code, 200);
    EXPECT_EQ(two.body, "Hello from a file\n");
}

TEST_F(StaticTest, ARangeOfABigFileSpansPiecesAndHeadGivesItsLength) {
    HTTPResponse tail = fetch("/static/big.bin", with_header("Range", "bytes=70000-"));
    EXPECT_EQ(tail.code, 206);
    EXPECT_EQ(tail.body, big_.substr(70000));
    EXPECT_EQ(tail.headers.get("Content-Range"),
              "bytes 70000-" + std::to_string(big_.size() - 1) + "/" + std::to_string(big_.size()));
    HTTPRequest head = with_header("Range", "bytes=0-4");
    head.method = "HEAD";
    HTTPResponse headers_only = fetch("/static/big.bin", head);
    EXPECT_EQ(headers_only.code, 206);
    EXPECT_EQ(headers_only.headers.get("Content-Length"), "5");
    EXPECT_EQ(headers_only.body, "");
}

TEST_F(StaticTest, MissingOutsideAndFolders) {
    EXPECT_EQ(fetch("/static/missing.txt").code, 404);
    EXPECT_EQ(fetch("/static/..%2Ftornado_secret_" + std::to_string(::getpid())).code, 403);
    EXPECT_EQ(fetch("/static/sub").code, 403);
    EXPECT_EQ(fetch("/static/sub/..%2Fhello.txt").code, 200);
}

// The root is a whole path segment: a sibling folder whose name merely
// begins with the root's is outside it.
TEST_F(StaticTest, ASiblingFolderThatStartsLikeTheRootIsOutsideIt) {
    std::filesystem::path sibling = root_.string() + "2";
    std::filesystem::create_directories(sibling);
    std::ofstream(sibling / "file.txt") << "not served";
    std::string name = root_.filename().string() + "2";
    HTTPResponse response = fetch("/static/..%2F" + name + "%2Ffile.txt");
    std::filesystem::remove_all(sibling);
    EXPECT_EQ(response.code, 403);
    EXPECT_EQ(response.body.find("not served"), std::string::npos);
}

// A folder with a default file, served from the site's root as a user might.
class StaticRootTest : public StaticTest {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        write_file("sub/index.html", "the sub index\n");
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/(.*)", handler<tornado::StaticFileHandler>(
                                               root_.string(), std::string("index.html"))}});
    }
};

TEST_F(StaticRootTest, AFolderRedirectsToItsSlashAndServesItsDefaultFile) {
    HTTPRequest request;
    request.follow_redirects = false;
    HTTPResponse moved = fetch("/sub", request);
    EXPECT_EQ(moved.code, 301);
    EXPECT_EQ(moved.headers.get("Location"), "/sub/");
    EXPECT_EQ(fetch("/sub/").body, "the sub index\n");
}

TEST_F(StaticRootTest, NoRedirectToAnotherSiteFromTwoInitialSlashes) {
    // "//sub" would redirect to "//sub/", which a browser reads as the
    // host "sub": refused as Tornado 6.2 does.
    HTTPRequest request;
    request.follow_redirects = false;
    HTTPResponse response = fetch("//sub", request);
    EXPECT_EQ(response.code, 403);
    EXPECT_TRUE(response.headers.get("Location").empty());
}

TEST_F(StaticTest, BigFileArrivesWholeAndHeadHasNoBody) {
    HTTPResponse response = fetch("/static/big.bin");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, big_);
    EXPECT_EQ(response.headers.get("Content-Type"), "application/octet-stream");
    HTTPRequest head;
    head.method = "HEAD";
    HTTPResponse headers_only = fetch("/static/big.bin", head);
    EXPECT_EQ(headers_only.headers.get("Content-Length"), std::to_string(big_.size()));
    EXPECT_EQ(headers_only.body, "");
}

TEST_F(StaticTest, StaticUrlAddsTheVersionHash) {
    std::string url = fetch("/url/hello.txt").body;
    std::string etag = fetch("/static/hello.txt").headers.get("Etag");
    EXPECT_EQ(url, "/static/hello.txt?v=" + etag.substr(1, etag.size() - 2));
    HTTPResponse versioned = fetch(url);
    EXPECT_NE(versioned.headers.get("Cache-Control").find("max-age="), std::string::npos);
}

// Tornado's CustomStaticFileTest, ported: a subclass serves content that
// is not in a folder, and writes the version into the file name instead of
// a ?v= argument. Each hook it overrides is one step of get().
class NamedVersionStaticHandler : public tornado::StaticFileHandler {
public:
    std::string make_static_url(const Application&, const std::string& path, bool) override {
        std::size_t dot = path.rfind('.');
        return "/static/" + path.substr(0, dot) + ".42" + path.substr(dot);
    }
    std::string parse_url_path(const std::string& url_path) override {
        std::size_t extension = url_path.rfind('.');
        std::size_t version = url_path.rfind('.', extension - 1);
        return url_path.substr(0, version) + url_path.substr(extension);
    }
    std::string get_absolute_path(const std::string&, const std::string& path) const override {
        return "CustomStaticFileTest:" + path;
    }
    std::optional<std::string> validate_absolute_path(const std::string&,
                                                      const std::string& absolute) override {
        if (absolute != "CustomStaticFileTest:foo.txt") throw HTTPError(404);
        return absolute;
    }
    ContentChunks get_content(const std::string& absolute, std::optional<std::int64_t> start,
                              std::optional<std::int64_t> end) override {
        if (absolute != "CustomStaticFileTest:foo.txt") throw std::runtime_error("unexpected path");
        std::string content = "bar";
        // A Range asks for a slice; the whole content comes without one.
        if (start || end)
            content = content.substr(start.value_or(0), end.value_or(3) - start.value_or(0));
        return [content, given = false]() mutable -> std::optional<std::string> {
            if (given) return std::nullopt;
            given = true;
            return content;
        };
    }
    std::int64_t get_content_size() override { return 3; }
    std::optional<std::time_t> get_modified_time() override { return std::nullopt; }
    std::string get_version(const Application&, const std::string&) override { return "42"; }
};

class CustomStaticTest : public testing::AsyncHTTPTestCase {
protected:
    class StaticUrlHandler : public RequestHandler {
    public:
        void get(const PathArgs& args) override { write(static_url(args[0])); }
    };
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.static_path = "dummy";
        settings.static_handler_class = static_handler_class<NamedVersionStaticHandler>();
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/static_url/(.*)", handler<StaticUrlHandler>()}}, settings);
    }
};

TEST_F(CustomStaticTest, TheSubclassServesAndNamesItsFiles) {
    HTTPResponse response = fetch("/static/foo.42.txt");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "bar");
    EXPECT_EQ(response.headers.get("Content-Type"), "text/plain");
    EXPECT_EQ(response.headers.get("Last-Modified"), "");  // get_modified_time gave nothing
    EXPECT_EQ(fetch("/static_url/foo.txt").body, "/static/foo.42.txt");
    HTTPResponse part = fetch("/static/foo.42.txt", with_header("Range", "bytes=1-"));
    EXPECT_EQ(part.code, 206);
    EXPECT_EQ(part.body, "ar");
    EXPECT_EQ(fetch("/static/other.42.txt").code, 404);
}

// The Etag of content that is not a file comes from get_content_version
// over the subclass's get_content, and is kept by the Application.
TEST_F(CustomStaticTest, TheEtagHashesTheSubclassContent) {
    HTTPResponse response = fetch("/static/foo.42.txt");
    // SHA-512 of "bar".
    EXPECT_EQ(response.headers.get("Etag").substr(1, 16), "d82c4eb5261cb9c8");
    EXPECT_EQ(
        fetch("/static/foo.42.txt", with_header("If-None-Match", response.headers.get("Etag")))
            .code,
        304);
}

// Tornado's static_hash_cache: the hash of content that is not a file is
// kept for ever, unless the setting is off (as it is in debug).
class CountingStaticHandler : public NamedVersionStaticHandler {
public:
    std::string get_version(const Application& application, const std::string& path) override {
        return StaticFileHandler::get_version(application, path);
    }
    std::string get_content_version(const std::string& absolute_path) override {
        ++hashed;
        return StaticFileHandler::get_content_version(absolute_path);
    }
    static inline int hashed = 0;
};

class StaticHashCacheTest : public testing::AsyncHTTPTestCase,
                            public ::testing::WithParamInterface<bool> {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.static_path = "dummy";
        settings.static_handler_class = static_handler_class<CountingStaticHandler>();
        settings.static_hash_cache = GetParam();
        return std::make_shared<Application>(std::vector<URLSpec>{}, settings);
    }
};

TEST_P(StaticHashCacheTest, TheHashIsKeptOnlyWithTheCache) {
    CountingStaticHandler::hashed = 0;
    for (int i = 0; i < 3; ++i) EXPECT_EQ(fetch("/static/foo.42.txt").body, "bar");
    EXPECT_EQ(CountingStaticHandler::hashed, GetParam() ? 1 : 3);
}
INSTANTIATE_TEST_SUITE_P(CacheOnAndOff, StaticHashCacheTest, ::testing::Bool());

// A handler that changes a file and looks again in the same turn of the
// loop sees its change: static_url stats every time, and a path found
// missing is not kept for the turn (static_file_cache.h).
class StaticSameTurnTest : public StaticTest {
protected:
    // static_url of a file, the file rewritten longer, static_url again.
    class RewriteHandler : public RequestHandler {
    public:
        void get(const PathArgs& args) override {
            std::string before = static_url(args[0]);
            std::ofstream(application().settings().static_path + "/" + args[0], std::ios::binary)
                << "a longer and different content\n";
            write(before + " " + static_url(args[0]));
        }
    };
    // Makes a missing file on the first 404, as a handler that renders
    // files on demand would, and asks again.
    class MakeOnDemandHandler : public StaticFileHandler {
    public:
        std::optional<std::string> validate_absolute_path(
            const std::string& root, const std::string& absolute_path) override {
            try {
                return StaticFileHandler::validate_absolute_path(root, absolute_path);
            } catch (const HTTPError& error) {
                if (error.status_code() != 404) throw;
            }
            std::ofstream(absolute_path, std::ios::binary) << "made on demand\n";
            return StaticFileHandler::validate_absolute_path(root, absolute_path);
        }
    };
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.static_path = root_.string();
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/rewrite/(.*)", handler<RewriteHandler>()},
                                 {"/made/(.*)", handler<MakeOnDemandHandler>(root_.string())}},
            settings);
    }
};

TEST_F(StaticSameTurnTest, StaticUrlSeesAFileRewrittenByTheSameHandler) {
    std::string urls = fetch("/rewrite/hello.txt").body;
    std::string before = urls.substr(0, urls.find(' '));
    std::string after = urls.substr(urls.find(' ') + 1);
    EXPECT_TRUE(before.starts_with("/static/hello.txt?v=")) << urls;
    EXPECT_TRUE(after.starts_with("/static/hello.txt?v=")) << urls;
    EXPECT_NE(before, after);
}

TEST_F(StaticSameTurnTest, AFileMadeAfterA404InTheSameTurnIsServed) {
    HTTPResponse made = fetch("/made/new.txt");
    EXPECT_EQ(made.code, 200);
    EXPECT_EQ(made.body, "made on demand\n");
}

// The fields serve() makes itself (Accept-Ranges, Last-Modified,
// Content-Length) replace what a subclass set earlier under any case of
// the name, as set_header does: one field each, with the file's values.
class StaticKnownFieldsTest : public StaticTest {
protected:
    class EarlyFieldsHandler : public tornado::StaticFileHandler {
    public:
        void set_default_headers() override {
            set_header("accept-ranges", "none");
            set_header("LAST-MODIFIED", "never");
            set_header("content-length", "1");
        }
    };
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.static_path = root_.string();
        settings.static_handler_class = static_handler_class<EarlyFieldsHandler>();
        return std::make_shared<Application>(std::vector<URLSpec>{}, settings);
    }
};

TEST_F(StaticKnownFieldsTest, ReplaceWhatASubclassSetBefore) {
    HTTPResponse response = fetch("/static/hello.txt");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "Hello from a file\n");
    EXPECT_EQ(response.headers.get_list("Accept-Ranges"), std::vector<std::string>{"bytes"});
    EXPECT_EQ(response.headers.get_list("Content-Length"), std::vector<std::string>{"18"});
    std::vector<std::string> modified = response.headers.get_list("Last-Modified");
    ASSERT_EQ(modified.size(), 1u);
    EXPECT_NE(modified[0], "never");
    EXPECT_TRUE(modified[0].ends_with(" GMT")) << modified[0];
}

// Tornado's static_handler_args: the arguments after the folder.
class StaticArgsTest : public StaticTest {
protected:
    class HeaderStaticHandler : public tornado::StaticFileHandler {
    public:
        void set_extra_headers(const std::string& path) override {
            set_header("X-Static-Path", path);
        }
        std::int64_t get_cache_time(const std::string&, std::optional<std::time_t>,
                                    const std::string& mime_type) override {
            return mime_type == "text/css" ? 600 : 0;
        }
    };
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        write_file("sub/index.html", "the sub index\n");
        ApplicationSettings settings;
        settings.static_path = root_.string();
        settings.static_handler_class =
            static_handler_class<HeaderStaticHandler>(std::string("index.html"));
        return std::make_shared<Application>(std::vector<URLSpec>{}, settings);
    }
};

TEST_F(StaticArgsTest, DefaultFilenameExtraHeadersAndCacheTime) {
    HTTPResponse index = fetch("/static/sub/");
    EXPECT_EQ(index.body, "the sub index\n");
    EXPECT_EQ(index.headers.get("X-Static-Path"), "sub/");
    EXPECT_EQ(index.headers.get("Cache-Control"), "");
    HTTPResponse css = fetch("/static/sub/style.css");
    EXPECT_EQ(css.headers.get("Cache-Control"), "max-age=600");
    EXPECT_FALSE(css.headers.get("Expires").empty());
}

}  // namespace
}  // namespace tornado

namespace tornado {
namespace {

// The same handler with its files kept between requests
// (static_file_cache.h), as every StaticFileHandler is: the cache keeps a
// file at once here, where it waits a second after a change by default.
class StaticCacheTest : public StaticTest {
protected:
    void SetUp() override {
        cache().clear();
        saved_ = cache().limits();
        cache().limits().settle_time = std::chrono::nanoseconds(0);
        StaticTest::SetUp();
    }
    void TearDown() override {
        StaticTest::TearDown();
        cache().limits() = saved_;
        cache().clear();
    }
    static detail::StaticFileCache& cache() { return detail::StaticFileCache::for_this_thread(); }

    detail::StaticFileCache::Limits saved_;
};

TEST_F(StaticCacheTest, ASecondRequestIsServedFromTheCache) {
    EXPECT_EQ(fetch("/static/hello.txt").body, "Hello from a file\n");
    std::uint64_t hits = cache().hits();
    HTTPResponse again = fetch("/static/hello.txt");
    EXPECT_EQ(again.body, "Hello from a file\n");
    EXPECT_GT(cache().hits(), hits);
}

TEST_F(StaticCacheTest, AFileReplacedWhileKeptIsServedNewAtOnce) {
    HTTPResponse first = fetch("/static/hello.txt");
    fetch("/static/hello.txt");
    // Past the file system's timestamp tick, which the settle time covers
    // when it is on.
    std::this_thread::sleep_for(20ms);
    write_file("replacement.txt", "Hello from a NEW\n");  // the same size
    std::filesystem::rename(root_ / "replacement.txt", root_ / "hello.txt");
    HTTPResponse after = fetch("/static/hello.txt");
    EXPECT_EQ(after.body, "Hello from a NEW\n");
    EXPECT_NE(after.headers.get("Etag"), first.headers.get("Etag"));
}

TEST_F(StaticCacheTest, AFileRemovedWhileKeptIs404) {
    fetch("/static/hello.txt");
    fetch("/static/hello.txt");
    std::filesystem::remove(root_ / "hello.txt");
    EXPECT_EQ(fetch("/static/hello.txt").code, 404);
}

TEST_F(StaticCacheTest, RangesHeadAnd304ComeFromTheKeptFileAsBefore) {
    std::string etag = fetch("/static/big.bin").headers.get("Etag");
    HTTPResponse part = fetch("/static/big.bin", with_header("Range", "bytes=100000-100009"));
    EXPECT_EQ(part.code, 206);
    EXPECT_EQ(part.body, big_.substr(100000, 10));
    HTTPResponse not_modified = fetch("/static/big.bin", with_header("If-None-Match", etag));
    EXPECT_EQ(not_modified.code, 304);
    HTTPRequest head;
    head.method = "HEAD";
    HTTPResponse headers_only = fetch("/static/big.bin", head);
    EXPECT_EQ(headers_only.headers.get("Content-Length"), std::to_string(big_.size()));
    EXPECT_EQ(headers_only.body, "");
    EXPECT_GT(cache().hits(), 0u);
}

TEST_F(StaticCacheTest, ALargeFileIsSentFromItsKeptDescriptor) {
    cache().limits().max_file_bytes = 1000;  // big.bin (300 KB) is large now
    EXPECT_EQ(fetch("/static/big.bin").body, big_);
    HTTPResponse again = fetch("/static/big.bin");
    EXPECT_EQ(again.body, big_);
    EXPECT_EQ(cache().bytes(), 0u);  // no bytes kept: the descriptor is
}

// With static_sendfile, over plain HTTP/1.1 a large file goes from its
// descriptor to the socket by sendfile(), whole or a range of it;
// io_uring's streams cannot, and read it in pieces as before.
// The application with static_sendfile on; the two hooks add what a
// test needs besides (gzip, a transform).
class StaticSendfileTest : public StaticCacheTest {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.static_path = root_.string();
        settings.static_sendfile = true;
        add_settings(settings);
        auto application = std::make_shared<Application>(std::vector<URLSpec>{}, settings);
        add_to(*application);
        return application;
    }
    virtual void add_settings(ApplicationSettings&) {}
    virtual void add_to(Application&) {}
    // sendfile() is counted on epoll, in builds without sanitizers.
    bool counts_sendfile() { return kCountsSendfile && !io_loop().io_by_completion(); }
};

TEST_F(StaticSendfileTest, ALargeFileGoesBySendfileOverPlainHTTP1) {
    cache().limits().max_file_bytes = 1000;  // big.bin (300 KB) is large now
    fetch("/static/big.bin");                // the version hash reads it once
    g_sendfile_calls = 0;
    EXPECT_EQ(fetch("/static/big.bin").body, big_);
    HTTPResponse part = fetch("/static/big.bin", with_header("Range", "bytes=1000-200999"));
    EXPECT_EQ(part.code, 206);
    EXPECT_EQ(part.body, big_.substr(1000, 200000));
    HTTPResponse tail = fetch("/static/big.bin", with_header("Range", "bytes=-10"));
    EXPECT_EQ(tail.body, big_.substr(big_.size() - 10));
    if (counts_sendfile()) {
        EXPECT_GE(g_sendfile_calls, 3);
    } else {
        EXPECT_EQ(g_sendfile_calls, 0);  // io_uring's streams read the pieces
    }
}

// Without the setting (the default), no sendfile().
TEST_F(StaticCacheTest, ALargeFileIsReadInPiecesByDefault) {
    cache().limits().max_file_bytes = 1000;
    fetch("/static/big.bin");
    g_sendfile_calls = 0;
    EXPECT_EQ(fetch("/static/big.bin").body, big_);
    EXPECT_EQ(g_sendfile_calls, 0);
}

// With compress_response, gzip decides as the head goes out: a text file
// it compresses must pass through it (no sendfile), a PNG it leaves alone
// may go around it.
class StaticGzipTest : public StaticSendfileTest {
protected:
    void add_settings(ApplicationSettings& settings) override { settings.compress_response = true; }
};

TEST_F(StaticGzipTest, ALargeFileGzipCompressesIsNotSentAroundIt) {
    cache().limits().max_file_bytes = 1000;
    std::string text;
    for (int line = 0; text.size() < 200 * 1024; ++line)
        text += "line " + std::to_string(line) + "\n";
    write_file("big.txt", text);
    write_file("big.png", big_);
    fetch("/static/big.txt");
    fetch("/static/big.png");
    g_sendfile_calls = 0;
    HTTPResponse compressed = fetch("/static/big.txt");
    EXPECT_EQ(compressed.code, 200);
    EXPECT_EQ(compressed.headers.get("X-Consumed-Content-Encoding"), "gzip");
    EXPECT_TRUE(compressed.body == text);
    EXPECT_EQ(g_sendfile_calls, 0);
    HTTPResponse image = fetch("/static/big.png");
    EXPECT_EQ(image.headers.get("X-Consumed-Content-Encoding"), "");
    EXPECT_TRUE(image.body == big_);
    if (counts_sendfile()) {
        EXPECT_GT(g_sendfile_calls, 0);
    }
}

// A transform that changes every byte and keeps the length: the file's
// bytes must go through it, so they cannot go by sendfile().
class CaseSwapTransform : public OutputTransform {
public:
    std::string transform_first_chunk(int&, HTTPHeaders&, std::string chunk, bool) override {
        return swap_case(std::move(chunk));
    }
    std::string transform_chunk(std::string chunk, bool) override {
        return swap_case(std::move(chunk));
    }
    static std::string swap_case(std::string text) {
        for (char& c : text) c = static_cast<char>(c ^ 0x20);
        return text;
    }
};

class StaticTransformTest : public StaticSendfileTest {
protected:
    void add_to(Application& application) override {
        application.add_transform(
            [](const HTTPServerRequest&) { return std::make_unique<CaseSwapTransform>(); });
    }
};

TEST_F(StaticTransformTest, ALargeFileGoesThroughATransformThatChangesIt) {
    cache().limits().max_file_bytes = 1000;
    HTTPResponse response = fetch("/static/big.bin");
    EXPECT_EQ(response.code, 200);
    EXPECT_TRUE(response.body == CaseSwapTransform::swap_case(big_));
}

// Where a response goes, for the test below: what the handler hands over,
// and whether it came as shared bytes (HTTP/2's and HTTP/3's streams keep
// those by reference) or as a copy.
class RecordingConnection final : public HTTPConnection {
public:
    Future<void> write_headers(const ResponseStartLine& start_line, const HTTPHeaders&,
                               std::string_view chunk) override {
        code = start_line.code;
        body.assign(chunk);
        return detail::done_future();
    }
    Future<void> write(std::string_view chunk) override {
        body += chunk;
        return detail::done_future();
    }
    Future<void> write_headers_shared(const ResponseStartLine& start_line, const HTTPHeaders&,
                                      SharedBytes shared) override {
        code = start_line.code;
        body.assign(shared.bytes);
        kept = shared;
        return detail::done_future();
    }
    void finish() override { finished = true; }

    int code = 0;
    std::string body;
    SharedBytes kept;  // the last shared piece
    bool finished = false;
};

// Sends a GET for `path` to `app` as a server connection would, and runs
// the loop until the response is finished.
std::shared_ptr<RecordingConnection> serve_to_recorder(Application& app, std::string path) {
    auto connection = std::make_shared<RecordingConnection>();
    std::unique_ptr<HTTPMessageDelegate> request = app.start_request(nullptr, connection);
    IOLoop::current().run_sync([&]() -> Task<void> {
        Future<void> taken =
            request->headers_received(RequestStartLine{"GET", path, "HTTP/1.1"}, HTTPHeaders());
        if (taken.valid()) co_await taken;  // none: the request took the headers at once
        request->finish();
        while (!connection->finished) co_await sleep(1ms);
    });
    return connection;
}

// The cached bytes of a small file go to the connection as they are: two
// responses point into the one copy the cache holds, and the connection
// may keep it alive (owner) rather than copy it.
TEST_F(StaticCacheTest, ResponsesShareTheCachedBytesInsteadOfCopies) {
    ApplicationSettings settings;
    settings.static_path = root_.string();
    Application app({}, settings);
    std::shared_ptr<RecordingConnection> first = serve_to_recorder(app, "/static/hello.txt");
    std::shared_ptr<RecordingConnection> second = serve_to_recorder(app, "/static/hello.txt");
    EXPECT_EQ(first->code, 200);
    EXPECT_EQ(second->body, "Hello from a file\n");
    ASSERT_NE(first->kept.owner, nullptr);
    EXPECT_EQ(first->kept.bytes.data(), second->kept.bytes.data());
    EXPECT_EQ(first->kept.owner, second->kept.owner);
}

// A handler that writes more after a shared piece gets one body, in order.
class SharedThenMoreHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        auto kept = std::make_shared<const std::string>("shared ");
        write(SharedBytes(kept, *kept));
        write("and copied");
    }
};

TEST_F(StaticCacheTest, WritesAfterASharedPieceJoinItInOrder) {
    Application app({{"/mixed", handler<SharedThenMoreHandler>()}});
    std::shared_ptr<RecordingConnection> connection = serve_to_recorder(app, "/mixed");
    EXPECT_EQ(connection->body, "shared and copied");
    EXPECT_EQ(connection->kept.owner, nullptr);  // one string went, not the shared piece
}

// Over HTTP/1.1 a shared piece goes to the socket beside the head
// (IOStream's write of pieces) instead of being copied after it: the
// framing must come out the same, with a Content-Length or chunked, small
// or past the size HTTP1Connection copies, and a HEAD gets no body.
class SharedPieceHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs args) override {
        auto size = static_cast<std::size_t>(std::stoul(args[1]));
        auto kept = std::make_shared<std::string>(size, '\0');
        for (std::size_t i = 0; i < size; ++i) (*kept)[i] = static_cast<char>('a' + i % 23);
        std::shared_ptr<const std::string> bytes = kept;
        write(SharedBytes(bytes, *bytes));
        if (args[0] == "chunked") co_await flush();  // no Content-Length: chunked
    }
    Task<void> head_async(PathArgs args) override { return get_async(std::move(args)); }
};

// The checks, over plain HTTP/1.1 (sendmsg() of the pieces) and over TLS
// (pieces joined, or written one by one: OpenSSL encrypts a run of bytes).
template <typename Base>
class SharedPieceTest : public Base {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/(sized|chunked)/([0-9]+)", handler<SharedPieceHandler>()}});
    }
    void expect_framed_as_a_copy_would() {
        for (std::string way : {"sized", "chunked"}) {
            for (std::size_t size : {std::size_t{100}, std::size_t{20000}, std::size_t{300000}}) {
                SCOPED_TRACE(way + " " + std::to_string(size));
                std::string path = "/" + way + "/" + std::to_string(size);
                HTTPResponse response = this->fetch(path);
                ASSERT_EQ(response.code, 200);
                ASSERT_EQ(response.body.size(), size);
                for (std::size_t i = 0; i < size; ++i) {
                    ASSERT_EQ(response.body[i], static_cast<char>('a' + i % 23)) << "at " << i;
                }
                EXPECT_EQ(response.headers.get("Transfer-Encoding"),
                          way == "chunked" ? "chunked" : "");
                HTTPRequest head;
                head.method = "HEAD";
                HTTPResponse headers_only = this->fetch(path, head);
                EXPECT_EQ(headers_only.code, 200);
                EXPECT_EQ(headers_only.body, "");
            }
        }
    }
};

using SharedPieceOverHTTP1Test = SharedPieceTest<testing::AsyncHTTPTestCase>;
using SharedPieceOverTLSTest = SharedPieceTest<testing::AsyncHTTPSTestCase>;

TEST_F(SharedPieceOverHTTP1Test, ArrivesFramedAsACopyWould) { expect_framed_as_a_copy_would(); }
TEST_F(SharedPieceOverTLSTest, ArrivesFramedAsACopyWould) { expect_framed_as_a_copy_would(); }

}  // namespace
}  // namespace tornado
