// web_static.cpp: StaticFileHandler and the static-file version hashes of
// tornado/web.h (Tornado's StaticFileHandler, in web.py).
//
// A GET goes: get_async -> serve -> validate_path (where is the file? is it
// under the root?) -> headers (Etag, Last-Modified, type, caching) -> 304?
// -> Range (206 or 416)? -> the body, read and sent in 64 KiB pieces.
// The order is Tornado 6.2's get(), and matters: a 304 wins over a Range,
// and a HEAD gets exactly the headers a GET would.
//
// All of it runs on the loop's thread. The file reads are blocking, as in
// Tornado: local disk reads are fast enough that a thread hop would cost more.
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>

#include "hex.h"
#include "text.h"
#include "tornado/web.h"

namespace tornado {

namespace {

// Tornado's CHUNK_SIZE: both the read size for hashing and the piece size
// for sending, so memory use stays flat whatever the file's size.
constexpr std::size_t kChunkSize = 64 * 1024;

// What one stat() tells us. modified_ns (full precision) is for noticing a
// change to the file; modified (whole seconds) is for Last-Modified and
// If-Modified-Since, which HTTP dates can only say to the second.
struct FileInfo {
    std::int64_t size = 0;
    std::int64_t modified_ns = 0;
    std::time_t modified = 0;
};

// Nothing for a path that is missing or is not a regular file (a folder, a
// device, a socket): the handler must never try to stream one of those.
// stat() follows symlinks, as Python's os.path.isfile does.
std::optional<FileInfo> regular_file_info(const std::string& path) {
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) return std::nullopt;
    return FileInfo{
        static_cast<std::int64_t>(status.st_size),
        static_cast<std::int64_t>(status.st_mtim.tv_sec) * 1'000'000'000 + status.st_mtim.tv_nsec,
        status.st_mtim.tv_sec};
}

bool is_directory(const std::string& path) {
    struct stat status {};
    return ::stat(path.c_str(), &status) == 0 && S_ISDIR(status.st_mode);
}

bool exists(const std::string& path) {
    struct stat status {};
    return ::stat(path.c_str(), &status) == 0;
}

// Lexically normal and absolute, without following links (Python's
// os.path.abspath, which Tornado uses). ".." is resolved on the text, so
// "root/../etc" becomes "/etc" and fails the root check in validate_path.
// A symlink under the root that points outside it is still served, as in
// Tornado. abspath drops a trailing '/', which lexically_normal keeps; hence
// the loop (that leaves "/" alone).
std::string absolute_path(const std::string& path) {
    std::filesystem::path absolute = std::filesystem::absolute(path).lexically_normal();
    std::string text = absolute.string();
    while (text.size() > 1 && text.ends_with('/')) text.pop_back();
    return text;
}

// The part of the file a response sends, as slice indexes: `end` is
// exclusive, so the length is end - start.
struct ByteRange {
    std::int64_t start = 0;
    std::int64_t end = 0;
};

// The headers that describe the file itself. serve() sets them before it
// chooses between 304, 416, 206 and 200, so each of those answers (and a
// HEAD) carries them, as in Tornado's get(). The Etag must already be known
// (compute_etag).
void set_file_headers(RequestHandler& handler, const std::string& file_path, const FileInfo& info) {
    handler.set_header("Accept-Ranges", "bytes");
    handler.set_etag_header();
    handler.set_header("Last-Modified", format_timestamp(info.modified));
    handler.set_header("Content-Type", StaticFileHandler::content_type_for(file_path));
    if (handler.request().query_arguments.contains("v")) {
        // A versioned URL (static_url) never changes: cache it for ten years.
        handler.set_header("Expires", format_timestamp(std::time(nullptr) + 10L * 365 * 86400));
        handler.set_header("Cache-Control", "max-age=" + std::to_string(10L * 365 * 86400));
    }
}

// Not satisfiable (416): the first byte is past the end, the range is
// backwards, or it is the empty suffix "bytes=-0". `first` has already had
// a suffix range turned into an index.
bool range_unsatisfiable(std::optional<std::int64_t> first, std::optional<std::int64_t> last,
                         std::int64_t size) {
    return (first && (*first >= size || (last && *first >= *last))) || (last && *last == 0);
}

// 416 with the file's size in Content-Range ("bytes */18"), as RFC 9110
// section 15.5.17 asks, so that the client can ask for a range that fits.
void refuse_range(RequestHandler& handler, std::int64_t size) {
    handler.set_status(416);
    handler.set_header("Content-Type", "text/plain");
    handler.set_header("Content-Range", "bytes */" + std::to_string(size));
}

// Range (RFC 9110 section 14), as Tornado does it: one byte range only;
// anything else is ignored and the whole file is sent with a 200. `first`
// and `last` are slice indexes (the end is exclusive; see
// parse_request_range), not the inclusive numbers of the header. Sets the
// status 206 or 416 and its header; nothing after a 416, which needs no
// body.
std::optional<ByteRange> apply_range_header(RequestHandler& handler, std::int64_t size) {
    ByteRange whole{0, size};
    std::string_view range_header = handler.request().headers.get_first("Range");
    if (range_header.empty()) return whole;
    auto range = parse_request_range(range_header);
    if (!range) return whole;
    std::optional<std::int64_t> first = range->first;
    std::optional<std::int64_t> last = range->second;
    // A suffix range "bytes=-500" arrives as first = -500: the last 500
    // bytes, or all of a shorter file.
    if (first && *first < 0) first = std::max<std::int64_t>(0, *first + size);
    if (range_unsatisfiable(first, last, size)) {
        refuse_range(handler, size);
        return std::nullopt;
    }
    // Clients ask for a big range to cap their download; that is not an
    // error, just the rest of the file.
    if (last && *last > size) last = size;
    ByteRange sent{first.value_or(0), last.value_or(size)};
    // 206 only when less than the whole file is sent: Tornado notes that
    // Chrome will not play audio given a 206 for "bytes=0-".
    if (sent.end - sent.start != size) {
        handler.set_status(206);
        handler.set_header("Content-Range", content_range(first, last, size));
    }
    return sent;
}

// The body. Each piece is flushed before the next is read, so at most one
// piece waits in memory however slow the client; a client that leaves
// makes flush() fail with StreamClosedError, which the handler treats as a
// quiet end (Tornado catches it here instead). The last piece is not
// flushed: finish() sends it, which for a small file means headers and
// body go out in one write. The references are safe: serve() awaits this
// coroutine, so its handler and its file_path outlive it.
Task<void> send_file_range(RequestHandler& handler, const std::string& file_path, ByteRange range) {
    std::ifstream file(file_path, std::ios::binary);
    if (!file) throw HTTPError(404);
    file.seekg(range.start);
    std::string buffer;
    for (std::int64_t remaining = range.end - range.start; remaining > 0;) {
        buffer.resize(static_cast<std::size_t>(std::min<std::int64_t>(remaining, kChunkSize)));
        file.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        // Content-Length has been promised, so a file cut short while we send
        // it is an error, not a short response.
        if (file.gcount() <= 0)
            throw std::runtime_error("static file shrank while being sent: " + file_path);
        buffer.resize(static_cast<std::size_t>(file.gcount()));
        remaining -= file.gcount();
        handler.write(buffer);
        if (remaining > 0) co_await handler.flush();
    }
}

}  // namespace

// Hashing a file reads all of it, so the hash is cached per absolute path.
// Tornado caches it for the life of the process (_static_hashes); we also
// check size and mtime on each call, so an edited file gets a new hash
// without a restart, for the price of one stat(). The cache is a mutable
// member with no lock: an Application is used from its loop's thread only.
// A failed hash is not cached, so the next call tries again.
std::string Application::static_file_version(const std::string& path) const {
    std::optional<FileInfo> info = regular_file_info(path);
    if (!info) return {};
    auto found = static_versions_.find(path);
    if (found != static_versions_.end() && found->second.size == info->size &&
        found->second.modified_ns == info->modified_ns) {
        return found->second.hash;
    }
    std::string hash = StaticFileHandler::get_content_version(path);
    if (!hash.empty()) static_versions_[path] = StaticVersion{info->size, info->modified_ns, hash};
    return hash;
}

// Runs for each request's new handler. The root is made absolute here so
// that validate_path compares two normalised paths; a relative root is taken
// from the working directory, as Tornado's abspath does.
void StaticFileHandler::initialize(std::string path, std::string default_filename) {
    root_ = absolute_path(path);
    default_filename_ = std::move(default_filename);
}

// SHA-512 through OpenSSL's EVP interface, fed a chunk at a time so that a
// large file never sits in memory whole. The unique_ptr frees the context on
// every return path.
std::string StaticFileHandler::get_content_version(const std::string& absolute_path) {
    std::ifstream file(absolute_path, std::ios::binary);
    if (!file) return {};
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                    EVP_MD_CTX_free);
    if (!context || EVP_DigestInit_ex(context.get(), EVP_sha512(), nullptr) != 1) return {};
    std::string buffer(kChunkSize, '\0');
    // The last read() sets eof (and fail) but may still have read a partial
    // chunk: gcount() says how much, so the tail is hashed before the loop ends.
    // Only badbit means a real read error.
    while (file) {
        file.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        EVP_DigestUpdate(context.get(), buffer.data(), static_cast<std::size_t>(file.gcount()));
    }
    if (file.bad()) return {};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(context.get(), digest, &size);
    return detail::to_hex(digest, size);
}

std::string StaticFileHandler::content_type_for(std::string_view path) {
    // The common types of Python's mimetypes (with Debian's /etc/mime.types),
    // which Tornado asks. A fixed table instead of reading mime.types, so the
    // answer does not depend on the machine. "gz" is application/gzip, as
    // Tornado answers for any gzip file (RFC 6713).
    static const std::pair<std::string_view, std::string_view> kTypes[] = {
        {"html", "text/html"},
        {"htm", "text/html"},
        {"css", "text/css"},
        {"js", "text/javascript"},
        {"mjs", "text/javascript"},
        {"json", "application/json"},
        {"txt", "text/plain"},
        {"md", "text/markdown"},
        {"csv", "text/csv"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/vnd.microsoft.icon"},
        {"pdf", "application/pdf"},
        {"zip", "application/zip"},
        {"gz", "application/gzip"},
        {"wasm", "application/wasm"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"mp3", "audio/mpeg"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"wav", "audio/x-wav"},
    };
    // The extension of the last path segment only, case-insensitive. A name
    // that starts with its only dot (".bashrc") has no extension, as with
    // Python's os.path.splitext.
    std::size_t slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return "application/octet-stream";
    std::string extension = detail::lower_ascii(name.substr(dot + 1));
    for (const auto& [known, type] : kTypes) {
        if (extension == known) return std::string(type);
    }
    return "application/octet-stream";
}

// The path is bound to a name before co_await: g++ 12 destroys a temporary
// std::string made inside a co_await expression twice.
Task<void> StaticFileHandler::get_async(PathArgs args) {
    std::string path = args.empty() ? std::string() : std::move(args[0]);
    co_await serve(std::move(path), true);
}

Task<void> StaticFileHandler::head_async(PathArgs args) {
    std::string path = args.empty() ? std::string() : std::move(args[0]);
    co_await serve(std::move(path), false);
}

// Tornado's get_absolute_path and validate_absolute_path together. `path`
// is the URL's capture group, already percent-decoded by the router, so it
// may hold "..", '/' at the start, or a NUL byte.
std::optional<std::string> StaticFileHandler::validate_path(const std::string& path) {
    // A NUL would cut the path short at the system calls, so a path with one
    // names no file.
    if (path.find('\0') != std::string::npos) throw HTTPError(404);
    std::string absolute = absolute_path(root_ + "/" + path);
    // The '/' on both sides makes the test about whole path segments: root
    // "/srv/www" must not accept "/srv/www2/x", and a request for the root
    // itself ("/srv/www" + "/") must pass. A root of "/" does not work with
    // this test ("//" prefixes nothing), where Tornado supports it.
    if (!(absolute + "/").starts_with(root_ + "/")) {
        throw HTTPError(403, path + " is not in root static directory");
    }
    if (is_directory(absolute) && !default_filename_.empty()) {
        // A folder's URL ends in '/', so that its page's relative links work.
        // request().path, not `path`: the capture may be empty while the URL
        // has a prefix that routing already took off. A path that starts
        // with "//" is refused, as Tornado 6.2 does: the redirect "//host/"
        // is protocol-relative and would send the browser to another site.
        if (!request().path.ends_with('/')) {
            if (request().path.starts_with("//")) {
                throw HTTPError(403, "cannot redirect path with two initial slashes");
            }
            redirect(request().path + "/", true);
            return std::nullopt;
        }
        absolute += "/" + default_filename_;
    }
    // 404 when nothing is there, 403 when something is but it is not a file
    // (a folder without default_filename, a device): Tornado's split.
    if (!exists(absolute)) throw HTTPError(404);
    if (!regular_file_info(absolute)) throw HTTPError(403, path + " is not a file");
    return absolute;
}

// RFC 9110 section 13.2.2: when If-None-Match is present, If-Modified-Since
// is ignored. An unreadable date is treated as absent, not as an error.
bool StaticFileHandler::should_return_304(std::time_t modified) const {
    if (request().headers.contains("If-None-Match")) return check_etag_header();
    std::string_view since = request().headers.get_first("If-Modified-Since");
    if (since.empty()) return false;
    std::optional<std::time_t> date = parse_http_date(since);
    return date && *date >= modified;
}

// GET and HEAD share this; `include_body` is false for HEAD. Any HTTPError
// thrown here becomes the error page through the handler's usual path.
Task<void> StaticFileHandler::serve(std::string path, bool include_body) {
    std::optional<std::string> file_path = validate_path(path);
    if (!file_path) co_return;
    // Stat again: validate_path may have added default_filename, and the file
    // may have gone in between.
    std::optional<FileInfo> info = regular_file_info(*file_path);
    if (!info) throw HTTPError(404);

    // The Etag is the quoted version hash, so it is the same for the whole
    // file and for any range of it (compute_etag returns etag_).
    std::string version = application().static_file_version(*file_path);
    if (!version.empty()) etag_ = "\"" + version + "\"";
    set_file_headers(*this, *file_path, *info);
    if (should_return_304(info->modified)) {
        set_status(304);
        co_return;
    }
    std::optional<ByteRange> range = apply_range_header(*this, info->size);
    if (!range) co_return;
    set_header("Content-Length", range->end - range->start);
    if (!include_body) co_return;
    co_await send_file_range(*this, *file_path, *range);
}

}  // namespace tornado
