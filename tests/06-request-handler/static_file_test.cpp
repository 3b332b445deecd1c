// static_file_test.cpp: StaticFileHandler (exercises/06-request-handler/
// static_file_handler.h), the chapter's extension task 5. Compiled against
// the reference solution in exercises/06-request-handler/solutions/ for
// ch06_tests, against the learner's file for the exercise (course_extension
// in cmake/Course.cmake). It runs on the learner's routing and handler life
// cycle, so it needs tasks 1, 3 and 4.
//
// Each test serves a directory the fixture makes under /tmp and removes:
//
//   <tmp>/secret.txt                      outside the root
//   <tmp>/static-other/secret.txt         a sibling whose name starts like the root's
//   <tmp>/outside_dir/file.txt
//   <tmp>/root_link -> static             the root, reached through a symlink
//   <tmp>/static/                         the root
//       hello.txt  digits.txt  index.html  page.html ... (one file per type)
//       sub/index.html  sub/a.txt  empty_dir/
//       link_inside.txt -> hello.txt      link_outside.txt -> <tmp>/secret.txt
//       dir_link -> <tmp>/outside_dir     pipe (a FIFO)
//       linked_index/index.html -> <tmp>/secret.txt   (a default file that leads out)
//       loop_a -> loop_b, loop_b -> loop_a            (a symlink loop)
//
// Every expected status and header below is what Tornado 6.2's
// StaticFileHandler answers for the same request on the same files, except
// the Etag (ours is nginx's form), the symlinks that lead out (Tornado serves
// them), and where a test says so.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "static_file_handler.h"
#include "web_fixture.h"

namespace course::testing {
namespace {

namespace fs = std::filesystem;

// digits.txt's modification time: 2020-01-02 03:04:05.7 UTC. The .7 is
// there on purpose: an HTTP date has whole seconds only.
constexpr std::time_t kDigitsSecond = 1577934245;
const std::string kDigitsLastModified = "Thu, 02 Jan 2020 03:04:05 GMT";
const std::string kDigitsEtag = "\"5e0d5da5-a\"";  // mtime 0x5e0d5da5, size 10

void write_file(const fs::path& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
}

class StaticFilesTest : public WebTest {
protected:
    void SetUp() override {
        std::string pattern = "/tmp/ch06_static_test.XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir = pattern;
        root = dir / "static";
        make_files();
        serve(routes());
    }

    void TearDown() override {
        WebTest::TearDown();  // the server first: it may be using the files
        fs::remove_all(dir);  // removes the symlinks, not what they point to
    }

    // /static/ has no default file, /site/ serves index.html for a
    // directory, /linked/ has a root reached through a symlink.
    virtual std::vector<URLSpec> routes() {
        return {
            {"/static/(.*)", handler<StaticFileHandler>(root.string())},
            {"/site/(.*)", handler<StaticFileHandler>(root.string(), std::string("index.html"))},
            {"/linked/(.*)", handler<StaticFileHandler>((dir / "root_link").string())},
        };
    }

    void make_files() {
        fs::create_directories(root / "sub");
        fs::create_directories(root / "empty_dir");
        fs::create_directories(root / "linked_index");
        fs::create_directories(dir / "static-other");
        fs::create_directories(dir / "outside_dir");
        write_file(root / "hello.txt", "Hello, static world\n");
        write_file(root / "digits.txt", "0123456789");
        write_file(root / "index.html", "<h1>home</h1>");
        for (const char* name : {"page.html", "style.css", "app.js", "data.json", "image.png",
                                 "photo.jpg", "photo.jpeg", "anim.gif", "logo.svg", "favicon.ico",
                                 "blob.bin", "README", "UPPER.PNG"}) {
            write_file(root / name, name);
        }
        write_file(root / "sub" / "index.html", "sub index");
        write_file(root / "sub" / "a.txt", "sub a");
        write_file(dir / "secret.txt", "secret");
        write_file(dir / "static-other" / "secret.txt", "sibling secret");
        write_file(dir / "outside_dir" / "file.txt", "outside");
        fs::create_symlink("hello.txt", root / "link_inside.txt");
        fs::create_symlink(dir / "secret.txt", root / "link_outside.txt");
        fs::create_directory_symlink(dir / "outside_dir", root / "dir_link");
        fs::create_directory_symlink("static", dir / "root_link");
        fs::create_symlink(dir / "secret.txt", root / "linked_index" / "index.html");
        fs::create_symlink("loop_b", root / "loop_a");
        fs::create_symlink("loop_a", root / "loop_b");
        ASSERT_EQ(::mkfifo((root / "pipe").c_str(), 0600), 0);
        auto mtime = std::chrono::system_clock::from_time_t(kDigitsSecond) +
                     std::chrono::milliseconds(700);
        fs::last_write_time(root / "digits.txt", std::chrono::file_clock::from_sys(mtime));
    }

    Response head(const std::string& target, const std::string& extra = "") {
        return fetch(get_request(target, extra, "HEAD"), true);
    }

    // Absolute paths as a request would name them: "/tmp/ch06_static_test.x/secret.txt".
    std::string secret_path() const { return (dir / "secret.txt").string(); }

    fs::path dir;
    fs::path root;
};

// --- serving a file ------------------------------------------------------------------

class Task5_StaticServing : public StaticFilesTest {};

// Catches the handler's default Content-Type (text/html; charset=UTF-8) left
// on a file, and a missing Accept-Ranges.
TEST_F(Task5_StaticServing, ServesAFileWithItsTypeAndLength) {
    Response response = get("/static/hello.txt");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "Hello, static world\n");
    EXPECT_EQ(response.header("content-type"), "text/plain");
    EXPECT_EQ(response.header("content-length"), "20");
    EXPECT_EQ(response.header("accept-ranges"), "bytes");
    EXPECT_FALSE(response.has("content-range"));
}

// Catches a Content-Type taken from anything but the served file's name.
TEST_F(Task5_StaticServing, EachExtensionHasItsType) {
    const std::pair<const char*, const char*> expected[] = {
        {"page.html", "text/html"},       {"style.css", "text/css"},
        {"app.js", "text/javascript"},    {"data.json", "application/json"},
        {"image.png", "image/png"},       {"photo.jpg", "image/jpeg"},
        {"photo.jpeg", "image/jpeg"},     {"anim.gif", "image/gif"},
        {"logo.svg", "image/svg+xml"},    {"favicon.ico", "image/vnd.microsoft.icon"},
        {"UPPER.PNG", "image/png"},       {"blob.bin", "application/octet-stream"},
        {"README", "application/octet-stream"},
    };
    for (const auto& [name, type] : expected) {
        Response response = get(std::string("/static/") + name);
        EXPECT_EQ(response.status, 200) << name;
        EXPECT_EQ(response.body, name);
        EXPECT_EQ(response.header("content-type"), type) << name;
    }
}

// Catches a HEAD answered with Content-Length: 0 because no body was written.
// (A body written for a HEAD cannot reach the wire: chapter 05's connection
// drops it, as Tornado's does. The second request checks the wire anyway.)
TEST_F(Task5_StaticServing, HeadSendsTheHeadersOfGetAndNoBody) {
    Response got = get("/static/digits.txt");
    TestClient client(port());
    // Two requests on one connection: were there a body after the HEAD's
    // head, the second answer would not start where the first one ends.
    client.send(get_request("/static/digits.txt", "", "HEAD") + get_request("/static/hello.txt"));
    Response headed = read_response(client, true);
    EXPECT_EQ(headed.status, 200);
    for (const char* name : {"content-length", "content-type", "etag", "last-modified",
                             "accept-ranges"}) {
        EXPECT_EQ(headed.header(name), got.header(name)) << name;
    }
    Response next = read_response(client);
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.body, "Hello, static world\n");
}

// --- where the file is ---------------------------------------------------------------

class Task5_StaticPaths : public StaticFilesTest {};

// Catches a path joined to the root without resolving "..".
TEST_F(Task5_StaticPaths, DotDotOutOfTheRootIs403) {
    for (const char* target : {"/static/../secret.txt", "/static/%2e%2e/secret.txt",
                               "/static/..%2fsecret.txt", "/static/sub/../../secret.txt",
                               "/static/sub/%2E%2E/%2E%2E/secret.txt"}) {
        Response response = get(target);
        EXPECT_EQ(response.status, 403) << target;
        EXPECT_EQ(response.body.find("secret"), std::string::npos) << target;
    }
}

// Catches refusing every ".." by searching the text (Tornado serves this).
TEST_F(Task5_StaticPaths, ADotDotThatStaysInsideIsServed) {
    Response response = get("/static/sub/../hello.txt");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "Hello, static world\n");
}

// Catches an absolute path let through: root / "/abs" is "/abs", so only the
// inside check stops it (a string join, root + "/" + path, gives 404 instead).
TEST_F(Task5_StaticPaths, AnAbsolutePathIs403) {
    EXPECT_EQ(get("/static/" + secret_path()).status, 403);             // "/static//tmp/..."
    EXPECT_EQ(get("/static/%2F" + secret_path().substr(1)).status, 403);  // "/static/%2Ftmp/..."
}

// Catches checking the root as a string prefix without the "/" after it.
TEST_F(Task5_StaticPaths, ASiblingThatSharesTheRootsNameIs403) {
    Response response = get("/static/../static-other/secret.txt");
    EXPECT_EQ(response.status, 403);
    EXPECT_EQ(response.body.find("sibling secret"), std::string::npos);
}

// Catches checking the path without resolving symlinks (which Tornado 6.2
// does: it serves both of these, and we deliberately do not).
TEST_F(Task5_StaticPaths, ASymlinkThatLeadsOutIs403) {
    EXPECT_EQ(get("/static/link_outside.txt").status, 403);
    EXPECT_EQ(get("/static/dir_link/file.txt").status, 403);
}

// Catches refusing every symlink: one that stays inside is just another name.
TEST_F(Task5_StaticPaths, ASymlinkThatStaysInsideIsServed) {
    Response response = get("/static/link_inside.txt");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "Hello, static world\n");
}

// Catches a root left as given while the file's path is resolved: every
// file would then seem to be outside (on macOS, /tmp itself is a symlink).
TEST_F(Task5_StaticPaths, ARootReachedThroughASymlinkWorks) {
    Response response = get("/linked/hello.txt");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "Hello, static world\n");
    EXPECT_EQ(get("/linked/../secret.txt").status, 403);
}

// Catches a missing file answered with anything but 404 (a 500 from an
// exception, a 403), and a file's name with a "/" after it served as the
// file (Tornado's abspath drops that "/"; the contract says 404).
TEST_F(Task5_StaticPaths, AMissingFileIs404) {
    EXPECT_EQ(get("/static/missing.txt").status, 404);
    EXPECT_EQ(get("/static/sub/missing.txt").status, 404);
    EXPECT_EQ(get("/static/no_dir/missing.txt").status, 404);
    EXPECT_EQ(get("/site/no_dir/").status, 404);
    EXPECT_EQ(get("/static/hello.txt/").status, 404) << "hello.txt/ names no file";
}

// Catches a file system error taken for a server error: a name longer than
// the system allows, or a symlink loop, names no file that can be served.
// 404 as in Tornado (os.path.exists says False), not a 500 and an
// "Uncaught exception" in the log that any stranger can cause.
TEST_F(Task5_StaticPaths, ANameTheSystemCannotResolveIs404) {
    for (const std::string& target : {"/static/" + std::string(300, 'a') + ".txt",
                                      std::string("/static/loop_a"),
                                      std::string("/static/loop_a/hello.txt")}) {
        EXPECT_EQ(get(target).status, 404)
            << target.substr(0, 40) << ": a name the file system cannot resolve (too long, a "
            << "symlink loop) is 404, not a 500: use std::filesystem's error_code forms";
    }
}

// Catches a NUL passed on to the file system, which reads the name only up
// to it and would serve hello.txt.
TEST_F(Task5_StaticPaths, ANulByteIs404) {
    Response response = get("/static/hello.txt%00.png");
    EXPECT_EQ(response.status, 404);
    EXPECT_EQ(response.body.find("Hello"), std::string::npos);
}

// Opening a FIFO for writing wakes a reader blocked in open(); closing it at
// once gives that reader end of file. So a server stuck on the FIFO goes on.
class FifoReleaser {
public:
    explicit FifoReleaser(fs::path fifo) : fifo_(std::move(fifo)) {}
    ~FifoReleaser() {
        int fd = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) ::close(fd);  // ENXIO when nobody is waiting: nothing to do
    }
    FifoReleaser(const FifoReleaser&) = delete;
    FifoReleaser& operator=(const FifoReleaser&) = delete;

private:
    fs::path fifo_;
};

// Catches treating everything that is not a directory as a file: open() on a
// FIFO waits for a writer, and the loop, with every client, waits with it.
TEST_F(Task5_StaticPaths, AFifoIsRefusedWithoutWaitingOnIt) {
    FifoReleaser release(root / "pipe");  // if the server is stuck anyway, free it at the end
    TestClient client(port());
    client.send(get_request("/static/pipe"));
    Response response;
    try {
        response = read_response(client, false, 2s);
    } catch (const TimeoutError&) {
        FAIL() << "no answer in 2 s: the server opened the FIFO, and open() waits for a writer";
    }
    EXPECT_EQ(response.status, 403);
}

// --- directories -----------------------------------------------------------------------

class Task5_StaticDirectories : public StaticFilesTest {
protected:
    // One more route, last: files at the top level, "/(.*)" (Tornado's
    // static_url_prefix "/"), where "//<root>/sub" names a directory.
    std::vector<URLSpec> routes() override {
        std::vector<URLSpec> table = StaticFilesTest::routes();
        table.emplace_back("/(.*)",
                           handler<StaticFileHandler>(root.string(), std::string("index.html")));
        return table;
    }
};

// Catches serving (or listing) a directory, or 404, when there is no default file.
TEST_F(Task5_StaticDirectories, ADirectoryWithoutADefaultFileIs403) {
    EXPECT_EQ(get("/static/sub").status, 403);
    EXPECT_EQ(get("/static/sub/").status, 403);
    EXPECT_EQ(get("/static/").status, 403);
}

// Catches serving the default file at "dir" (its page's relative links would
// then point one level up), a 302, or the query kept (Tornado drops it).
TEST_F(Task5_StaticDirectories, ADirectoryWithoutItsSlashIsRedirected) {
    Response response = get("/site/sub");
    EXPECT_EQ(response.status, 301);
    EXPECT_EQ(response.header("location"), "/site/sub/");
    EXPECT_EQ(get("/site/sub?x=1").header("location"), "/site/sub/");
}

// Catches a type taken from the request's path ("sub/") instead of the file
// served, and a HEAD of it with the wrong length.
TEST_F(Task5_StaticDirectories, ADirectoryWithItsSlashServesTheDefaultFile) {
    Response response = get("/site/sub/");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "sub index");
    EXPECT_EQ(response.header("content-type"), "text/html");
    EXPECT_EQ(head("/site/sub/").header("content-length"), "9");
    EXPECT_EQ(get("/site/").body, "<h1>home</h1>");
}

// Catches the default file joined to the checked directory and opened
// without a check of its own: index.html here is a symlink out of the root.
TEST_F(Task5_StaticDirectories, ADefaultFileThatLeadsOutIs403) {
    Response response = get("/site/linked_index/");
    EXPECT_EQ(response.status, 403)
        << "the default file is a path like any other: resolved and checked inside the root";
    EXPECT_EQ(response.body.find("secret"), std::string::npos);
}

// Catches a directory whose default file is missing answered as the
// directory itself (403) or served somehow: there is nothing, 404.
TEST_F(Task5_StaticDirectories, ADirectoryWithoutTheDefaultFileIs404) {
    EXPECT_EQ(get("/site/empty_dir/").status, 404);
}

// Catches an open redirect: "Location: //tmp/..." is a link to the host
// "tmp" (Tornado's CVE-2023-28370).
TEST_F(Task5_StaticDirectories, APathStartingWithTwoSlashesIsNotRedirected) {
    std::string target = "/" + (root / "sub").string();  // "//tmp/ch06_static_test.x/static/sub"
    EXPECT_EQ(get("/" + (root / "sub" / "a.txt").string()).body, "sub a") << "the route serves";
    Response response = get(target);
    EXPECT_EQ(response.status, 403);
    EXPECT_FALSE(response.has("location"));
}

// --- validators and 304 -------------------------------------------------------------

class Task5_StaticCaching : public StaticFilesTest {};

// Catches a modification time rounded (the .7 s up to the next second) instead
// of cut, and an Etag that is not "<mtime hex>-<size hex>".
TEST_F(Task5_StaticCaching, LastModifiedIsTheMtimeInWholeSecondsAndTheEtagNginxs) {
    Response response = get("/static/digits.txt");
    EXPECT_EQ(response.header("last-modified"), kDigitsLastModified);
    EXPECT_EQ(response.header("etag"), kDigitsEtag);
}

// Catches a 304 with a body (or 200), and the validators dropped from it.
TEST_F(Task5_StaticCaching, AMatchingIfNoneMatchIs304) {
    Response response = get("/static/digits.txt", "If-None-Match: " + kDigitsEtag + "\r\n");
    EXPECT_EQ(response.status, 304);
    EXPECT_EQ(response.header("etag"), kDigitsEtag);
    EXPECT_EQ(response.header("last-modified"), kDigitsLastModified);
    EXPECT_FALSE(response.has("content-length"));
    EXPECT_FALSE(response.has("content-type"));
    EXPECT_EQ(head("/static/digits.txt", "If-None-Match: " + kDigitsEtag + "\r\n").status, 304);
}

// Catches comparing the whole header with the Etag.
TEST_F(Task5_StaticCaching, IfNoneMatchTakesAStarListsAndWeakTags) {
    for (const std::string& value : {std::string("*"), "\"other\", " + kDigitsEtag,
                                     "\"other\"," + kDigitsEtag, "W/" + kDigitsEtag,
                                     "\"other\", W/" + kDigitsEtag}) {
        EXPECT_EQ(get("/static/digits.txt", "If-None-Match: " + value + "\r\n").status, 304)
            << value;
    }
}

// Catches a 304 for a tag that is not the file's (the quotes are part of it).
TEST_F(Task5_StaticCaching, AnotherTagGetsTheFile) {
    for (const std::string& value : {std::string("\"other\""), std::string("5e0d5da5-a")}) {
        Response response = get("/static/digits.txt", "If-None-Match: " + value + "\r\n");
        EXPECT_EQ(response.status, 200) << value;
        EXPECT_EQ(response.body, "0123456789") << value;
    }
}

std::string if_modified_since(const std::string& date) {
    return "If-Modified-Since: " + date + "\r\n";
}

// Catches comparing the date with the file's time to the nanosecond (the
// date has no fraction, so the file's 05.7 s would seem newer than 05).
TEST_F(Task5_StaticCaching, IfModifiedSinceAtOrAfterLastModifiedIs304) {
    EXPECT_EQ(get("/static/digits.txt", if_modified_since(kDigitsLastModified)).status, 304);
    EXPECT_EQ(get("/static/digits.txt", if_modified_since("Thu, 02 Jan 2020 03:04:06 GMT")).status,
              304);
    EXPECT_EQ(get("/static/digits.txt", if_modified_since("Fri, 01 Jan 2021 00:00:00 GMT")).status,
              304);
    EXPECT_EQ(head("/static/digits.txt", if_modified_since(kDigitsLastModified)).status, 304);
    // The two older forms of an HTTP date (RFC 850, asctime), as Tornado reads them.
    std::string rfc850_date = "Thursday, 02-Jan-20 03:04:05 GMT";
    EXPECT_EQ(get("/static/digits.txt", if_modified_since(rfc850_date)).status, 304);
    EXPECT_EQ(get("/static/digits.txt", if_modified_since("Thu Jan  2 03:04:05 2020")).status, 304);
}

// Catches the comparison the wrong way round: a copy older than the file is stale.
TEST_F(Task5_StaticCaching, IfModifiedSinceBeforeLastModifiedGetsTheFile) {
    for (const char* date : {"Thu, 02 Jan 2020 03:04:04 GMT", "Mon, 01 Jan 2018 00:00:00 GMT"}) {
        Response response = get("/static/digits.txt", if_modified_since(date));
        EXPECT_EQ(response.status, 200) << date;
        EXPECT_EQ(response.body, "0123456789") << date;
    }
}

// Catches falling back to If-Modified-Since when If-None-Match did not match
// (Tornado's should_return_304: If-None-Match alone decides when it is there).
TEST_F(Task5_StaticCaching, IfNoneMatchWinsOverIfModifiedSince) {
    std::string fresh_date = if_modified_since(kDigitsLastModified);
    EXPECT_EQ(get("/static/digits.txt", "If-None-Match: \"other\"\r\n" + fresh_date).status, 200);
    EXPECT_EQ(get("/static/digits.txt", "If-None-Match: 5e0d5da5-a\r\n" + fresh_date).status, 200);
    std::string stale_date = if_modified_since("Mon, 01 Jan 2018 00:00:00 GMT");
    std::string matching_tag = "If-None-Match: " + kDigitsEtag + "\r\n";
    EXPECT_EQ(get("/static/digits.txt", matching_tag + stale_date).status, 304);
}

// Catches a date that does not parse taken as an error (500) or as a match.
// Two of these differ from Tornado 6.2 on purpose: it answers 500 to the day
// 32 (a ValueError), and reads the first of two dates, where RFC 9110 says
// to ignore a field with more than one.
TEST_F(Task5_StaticCaching, AMalformedDateIsIgnored) {
    for (const char* date : {"not a date", "Thu, 32 Jan 2020 03:04:05 GMT", "1577934245",
                             "Thu, 02 Jan 2020 03:04:05 GMT, Thu, 02 Jan 2020 03:04:05 GMT"}) {
        Response response = get("/static/digits.txt", if_modified_since(date));
        EXPECT_EQ(response.status, 200) << date;
        EXPECT_EQ(response.body, "0123456789") << date;
    }
}

// --- ranges -------------------------------------------------------------------------------

class Task5_StaticRanges : public StaticFilesTest {
protected:
    Response ranged(const std::string& range) {
        return get("/static/digits.txt", "Range: " + range + "\r\n");
    }
};

// Catches "bytes=a-b" read with b excluded: b is the last byte sent.
TEST_F(Task5_StaticRanges, AClosedRangeIncludesItsLastByte) {
    Response response = ranged("bytes=2-5");
    EXPECT_EQ(response.status, 206);
    EXPECT_EQ(response.body, "2345");
    EXPECT_EQ(response.header("content-range"), "bytes 2-5/10");
    EXPECT_EQ(response.header("content-length"), "4");
    EXPECT_EQ(response.header("content-type"), "text/plain");
    EXPECT_EQ(response.header("etag"), kDigitsEtag) << "the whole file's Etag";

    response = ranged("bytes=5-5");
    EXPECT_EQ(response.status, 206);
    EXPECT_EQ(response.body, "5");
    EXPECT_EQ(response.header("content-range"), "bytes 5-5/10");
}

// Catches "-n" read as the first n bytes.
TEST_F(Task5_StaticRanges, OpenAndSuffixRanges) {
    Response response = ranged("bytes=7-");
    EXPECT_EQ(response.status, 206);
    EXPECT_EQ(response.body, "789");
    EXPECT_EQ(response.header("content-range"), "bytes 7-9/10");

    response = ranged("bytes=-3");
    EXPECT_EQ(response.status, 206);
    EXPECT_EQ(response.body, "789");
    EXPECT_EQ(response.header("content-range"), "bytes 7-9/10");
}

// Catches an end past the file answered 416, or read past the end.
TEST_F(Task5_StaticRanges, AnEndPastTheFileIsCutToIt) {
    Response response = ranged("bytes=3-100");
    EXPECT_EQ(response.status, 206);
    EXPECT_EQ(response.body, "3456789");
    EXPECT_EQ(response.header("content-range"), "bytes 3-9/10");
}

// Catches b + 1 computed in 64 bits: for the largest b it wraps to 0, and
// the "slice" is a 500 or a 206 that claims bytes the file does not have.
TEST_F(Task5_StaticRanges, TheLargestEndIsCutToo) {
    Response response = ranged("bytes=3-18446744073709551615");
    EXPECT_EQ(response.status, 206) << "b = 2^64 - 1 is an end past the file: cut to it";
    EXPECT_EQ(response.body, "3456789");
    EXPECT_EQ(response.header("content-range"), "bytes 3-9/10");
    response = ranged("bytes=0-18446744073709551615");
    EXPECT_EQ(response.status, 200) << "b = 2^64 - 1 from 0 is the whole file";
    EXPECT_EQ(response.body, "0123456789");
    EXPECT_FALSE(response.has("content-range"));
}

// Catches a 206 for a range that is the whole file (Tornado answers 200).
TEST_F(Task5_StaticRanges, ARangeOfTheWholeFileIs200) {
    for (const char* range : {"bytes=0-", "bytes=0-9", "bytes=-100", "bytes=0-1000"}) {
        Response response = ranged(range);
        EXPECT_EQ(response.status, 200) << range;
        EXPECT_EQ(response.body, "0123456789") << range;
        EXPECT_FALSE(response.has("content-range")) << range;
    }
    EXPECT_EQ(ranged("bytes=0-8").status, 206) << "one byte short is a part";
}

// Catches a 206 with an empty or inverted slice where nothing can be sent.
TEST_F(Task5_StaticRanges, AnUnsatisfiableRangeIs416) {
    for (const char* range : {"bytes=10-", "bytes=10-20", "bytes=5-3", "bytes=-0"}) {
        Response response = ranged(range);
        EXPECT_EQ(response.status, 416) << range;
        EXPECT_EQ(response.header("content-range"), "bytes */10") << range;
        EXPECT_EQ(response.header("content-length"), "0") << range;
        EXPECT_EQ(response.header("content-type"), "text/plain") << range;
        EXPECT_EQ(response.body, "") << range;
    }
}

// Catches 416 (or the first range's 206) for a header Tornado ignores: the
// whole file is always a correct answer to a Range we cannot read.
TEST_F(Task5_StaticRanges, UnreadableOrSeveralRangesAreIgnored) {
    for (const char* range : {"bytes=1-2,4-5", "bytes=abc", "items=1-2", "bytes=", "bytes=1-2-3"}) {
        Response response = ranged(range);
        EXPECT_EQ(response.status, 200) << range;
        EXPECT_EQ(response.body, "0123456789") << range;
    }
}

// Catches a HEAD with a range that gives the whole file's length.
TEST_F(Task5_StaticRanges, AHeadWithARangeHasTheSlicesLength) {
    Response response = head("/static/digits.txt", "Range: bytes=2-5\r\n");
    EXPECT_EQ(response.status, 206);
    EXPECT_EQ(response.header("content-length"), "4");
    EXPECT_EQ(response.header("content-range"), "bytes 2-5/10");
}

// Catches the range handled before the validators: a cached copy is still
// good, whatever part of it the client asks for.
TEST_F(Task5_StaticRanges, AValidCacheIs304EvenWithARange) {
    EXPECT_EQ(get("/static/digits.txt", "Range: bytes=2-5\r\nIf-None-Match: *\r\n").status, 304);
    EXPECT_EQ(get("/static/digits.txt", "Range: bytes=2-5\r\n" +
                                            if_modified_since(kDigitsLastModified)).status,
              304);
}

}  // namespace
}  // namespace course::testing
