// web_static.cpp: StaticFileHandler and the static-file version hashes of
// tornado/web.h (Tornado's StaticFileHandler, in web.py).
//
// A GET goes through the hooks in Tornado 6.2's order: parse_url_path ->
// get_absolute_path -> validate_absolute_path (where is the file? is it
// under the root?) -> get_modified_time -> set_headers (Etag,
// Last-Modified, type, caching) -> 304? -> Range (206 or 416)? ->
// get_content, sent in 64 KiB pieces. The order matters: a 304 wins over a
// Range, and a HEAD gets exactly the headers a GET would. Each hook is
// virtual, so a subclass can serve from somewhere else than a folder.
//
// All of it runs on the loop's thread. The file reads are blocking, as in
// Tornado: local disk reads are fast enough that a thread hop would cost more.
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <memory>

#include "core/hex.h"
#include "core/text.h"
#include "tornado/log.h"
#include "tornado/web.h"
#include "web/static_file_cache.h"

namespace tornado {

namespace {

// Tornado's CHUNK_SIZE is 64 KiB; here a little less, IOStream's
// kOneSegmentWrite: both the read size for hashing and the piece size for
// sending, so memory use stays flat whatever the file's size. Each
// piece's send then fits one TCP segment on loopback, where a local proxy
// reads from us, TLS or not: a send of exactly 64 KiB left a 53-byte
// segment after each full one, sent on its own, and a 5 MB file cost the
// server 80% more CPU (tests/bench/README.md).
constexpr std::size_t kChunkSize = IOStream::kOneSegmentWrite;

using detail::PathKind;
using detail::PathStatus;

// For a request being served: one stat() per path and turn of the loop,
// kept by the thread's StaticFileCache (static_file_cache.h says why that
// is never stale).
PathStatus look_at(const std::string& path) {
    return detail::StaticFileCache::for_this_thread().look_at(path);
}

// Already what abspath() would make of it: absolute, no empty, "." or ".."
// segment, no '/' at the end. Nearly every path a server sees is, and
// this test spares it std::filesystem's allocations.
bool already_abspath(std::string_view path) {
    if (!path.starts_with('/')) return false;
    if (path.size() == 1) return true;
    // One walk over the bytes (this runs on every static request): each
    // segment is checked at the '/' or the end that closes it.
    std::size_t start = 1;
    for (std::size_t i = 1; i <= path.size(); ++i) {
        if (i < path.size() && path[i] != '/') continue;
        std::size_t size = i - start;
        if (size == 0) return false;  // "//", or a '/' at the end
        if (path[start] == '.' && (size == 1 || (size == 2 && path[start + 1] == '.')))
            return false;
        start = i + 1;
    }
    return true;
}

// Whether `path` is `root` or lies under it, by whole path segments: root
// "/srv/www" must not accept "/srv/www2/x", and a request for the root
// itself must pass. Both are abspath()'s. A root of "/" does not work
// with this test (no path continues it with a '/'), where Tornado
// supports it.
bool within_root(std::string_view path, std::string_view root) {
    return path.starts_with(root) && (path.size() == root.size() || path[root.size()] == '/');
}

// Lexically normal and absolute, without following links (Python's
// os.path.abspath, which Tornado uses). ".." is resolved on the text, so
// "root/../etc" becomes "/etc" and fails the root check in
// validate_absolute_path. A symlink under the root that points outside it
// is still served, as in Tornado. abspath drops a trailing '/', which
// lexically_normal keeps; hence the loop (that leaves "/" alone). By
// value: a path that is already absolute is moved out, not copied.
std::string abspath(std::string path) {
    if (already_abspath(path)) return path;
    std::filesystem::path absolute = std::filesystem::absolute(path).lexically_normal();
    std::string text = absolute.string();
    while (text.size() > 1 && text.ends_with('/')) text.pop_back();
    return text;
}

// The part of the content a response sends, as slice indexes: `end` is
// exclusive, so the length is end - start.
struct ByteRange {
    std::int64_t start = 0;
    std::int64_t end = 0;
};

// Not satisfiable (416): the first byte is past the end, the range is
// backwards, or it is the empty suffix "bytes=-0". `first` has already had
// a suffix range turned into an index.
bool range_unsatisfiable(std::optional<std::int64_t> first, std::optional<std::int64_t> last,
                         std::int64_t size) {
    return (first && (*first >= size || (last && *first >= *last))) || (last && *last == 0);
}

// 416 with the content's size in Content-Range ("bytes */18"), as RFC 9110
// section 15.5.17 asks, so that the client can ask for a range that fits.
void refuse_range(RequestHandler& handler, std::int64_t size) {
    handler.set_status(416);
    handler.set_header("Content-Type", "text/plain");
    handler.set_header("Content-Range", "bytes */" + std::to_string(size));
}

// Range (RFC 9110 section 14), as Tornado does it: one byte range only;
// anything else is ignored and the whole content is sent with a 200.
// `first` and `last` are slice indexes (the end is exclusive; see
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

// The body, from get_content. Each piece is flushed before the one after
// the next is read, so at most two pieces wait in memory however slow the
// client; a client that leaves makes flush() fail with StreamClosedError,
// which the handler treats as a quiet end (Tornado catches it here
// instead). The last piece is not flushed: finish() sends it, which for a
// small file means headers and body go out in one write. `handler` is
// the caller's *this, whose get() awaits this at once.
// NOLINTNEXTLINE(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<void> send_content(RequestHandler& handler, StaticFileHandler::ContentChunks next_piece) {
    std::optional<SharedBytes> piece = next_piece();
    while (piece) {
        handler.write(std::move(*piece));
        std::optional<SharedBytes> following = next_piece();
        if (following) co_await handler.flush();
        piece = std::move(following);
    }
}

}  // namespace

// Hashing a file reads all of it, so the hash is cached per absolute path.
// Tornado caches it for the life of the process (_static_hashes); for a
// file on disk we also check size and mtime on each call, so an edited
// file gets a new hash without a restart, for the price of one stat().
// What is not a file on disk (a subclass's content from elsewhere) is kept
// for ever, as in Tornado. The cache is a mutable member with no lock: an
// Application is used from its loop's thread only. A failed hash is not
// cached, so the next call tries again.
std::string_view Application::kept_file_version(const std::string& path,
                                                StaticFileHandler& hasher) const {
    PathStatus found = detail::stat_path(path);
    if (found.kind != PathKind::regular_file) return kept_file_version(path, hasher, {});
    return kept_file_version(path, hasher, FileStamp{found.size, found.changed_ns});
}

// `stamp` is the file's size and time as the caller has just seen them;
// nothing when it is not a file on disk.
std::string_view Application::kept_file_version(const std::string& path, StaticFileHandler& hasher,
                                                std::optional<FileStamp> stamp) const {
    auto found = static_versions_.find(path);
    if (found != static_versions_.end() &&
        (!stamp ||
         (found->second.size == stamp->size && found->second.modified_ns == stamp->modified_ns))) {
        return found->second.hash;
    }
    std::string hash;
    try {
        hash = hasher.get_content_version(path);
    } catch (...) {
        // Tornado's words; a static_url to a missing file is a bug to see.
        gen_log.error("Could not open static file '{}'", path);
        return {};
    }
    if (hash.empty()) return {};
    StaticVersion& kept = static_versions_[path];
    kept =
        StaticVersion{stamp ? stamp->size : -1, stamp ? stamp->modified_ns : -1, std::move(hash)};
    return kept.hash;
}

void Application::reset_static_versions_if_uncached() {
    if (!settings_.static_hash_cache.value_or(!settings_.debug)) static_versions_.clear();
}

StaticFileHandler& Application::static_url_handler() const {
    if (!static_url_handler_) {
        const StaticHandlerClass& chosen = settings_.static_handler_class;
        static_url_handler_ = chosen.make ? chosen.make() : std::make_shared<StaticFileHandler>();
    }
    return *static_url_handler_;
}

HandlerFactory Application::static_route_handler() const {
    StaticHandlerClass chosen = settings_.static_handler_class;
    if (!chosen.make) chosen = static_handler_class<StaticFileHandler>();
    return [chosen, static_path = settings_.static_path](
               Application& application, std::shared_ptr<HTTPServerRequest> request) {
        std::shared_ptr<StaticFileHandler> made = chosen.make();
        made->attach(application, std::move(request));
        chosen.initialize(*made, static_path);
        return std::shared_ptr<RequestHandler>(std::move(made));
    };
}

// Runs for each request's new handler. The root is made absolute here so
// that validate_absolute_path compares two normalised paths; a relative
// root is taken from the working directory, as Tornado's abspath does.
void StaticFileHandler::initialize(std::string path, std::string default_filename) {
    root_ = abspath(std::move(path));
    default_filename_ = std::move(default_filename);
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

// Tornado 6.2's get(). GET and HEAD share it; `include_body` is false for
// HEAD. Any HTTPError thrown here becomes the error page through the
// handler's usual path.
Task<void> StaticFileHandler::serve(std::string url_path, bool include_body) {
    path_ = parse_url_path(url_path);
    absolute_path_ = validate_absolute_path(root_, get_absolute_path(root_, path_));
    if (!absolute_path_) co_return;
    modified_ = get_modified_time();
    // The Etag is the quoted version hash, so it is the same for the whole
    // file and for any range of it (compute_etag returns etag_).
    // When validate_absolute_path has just looked at the file, its size and
    // time decide whether the cached hash still holds; a subclass's content
    // from elsewhere is looked for by the path alone.
    bool looked_at = stat_ && stat_->path == *absolute_path_;
    std::string_view version =
        looked_at
            ? application().kept_file_version(
                  *absolute_path_, *this, Application::FileStamp{stat_->size, stat_->modified_ns})
            : application().kept_file_version(*absolute_path_, *this);
    if (!version.empty()) {  // one allocation, where "\"" + version + "\"" made two
        etag_.emplace();
        etag_->reserve(version.size() + 2);
        etag_->append("\"").append(version).append("\"");
    }
    set_headers();
    if (should_return_304()) {
        set_status(304);
        co_return;
    }
    std::optional<ByteRange> range = apply_range_header(*this, get_content_size());
    if (!range) co_return;
    char digits[24];
    char* digits_end = std::to_chars(digits, digits + sizeof digits, range->end - range->start).ptr;
    set_known_header("Content-Length", std::string_view(digits, digits_end - digits));
    if (!include_body) co_return;
    // Tornado passes no start and end for the whole content, and a
    // subclass's get_content may rely on it. The pieces are a named
    // variable for the same g++ 12 bug as in get_async.
    bool whole = range->start == 0 && get_status() != 206;
    ContentChunks pieces = whole ? get_content(*absolute_path_)
                                 : get_content(*absolute_path_, range->start, range->end);
    // A large file's bytes go from the file to the socket where the
    // connection can (plain HTTP/1.1, no transform changing the body):
    // the head first, on its own, since only then do the transforms
    // decide (gzip) whether they will change the body.
    if (pieces.file() && application().settings().static_sendfile) {
        co_await flush();
        if (sends_file_now()) {
            co_await write_file(*pieces.file());
            co_return;
        }
    }
    co_await send_content(*this, std::move(pieces));
}

std::string StaticFileHandler::parse_url_path(const std::string& url_path) { return url_path; }

std::string StaticFileHandler::get_absolute_path(const std::string& root,
                                                 const std::string& path) const {
    std::string joined;  // one allocation, where root + "/" + path made two
    joined.reserve(root.size() + 1 + path.size());
    joined.append(root).append("/").append(path);
    return abspath(std::move(joined));
}

// `path_` is the URL's capture group, already percent-decoded by the
// router, so the absolute path may hold ".." (resolved by now), or a NUL
// byte.
std::optional<std::string> StaticFileHandler::validate_absolute_path(
    const std::string& root, const std::string& absolute_path) {
    // A NUL would cut the path short at the system calls, so a path with one
    // names no file.
    if (absolute_path.find('\0') != std::string::npos) throw HTTPError(404);
    // The root initialize() made absolute (root_) is compared as it is,
    // neither copied nor checked again; a subclass's other root is made
    // absolute here if it is not already.
    std::string_view absolute_root = root;
    std::string normalized_root;
    if (root != root_ && !already_abspath(root)) {
        normalized_root = abspath(root);
        absolute_root = normalized_root;
    }
    if (!within_root(absolute_path, absolute_root)) {
        throw HTTPError(403, path_ + " is not in root static directory");
    }
    std::string file = absolute_path;
    PathStatus found = look_at(file);
    if (found.kind == PathKind::directory && !default_filename_.empty()) {
        // A folder's URL ends in '/', so that its page's relative links work.
        // request().path, not path_: the capture may be empty while the URL
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
        file += "/" + default_filename_;
        found = look_at(file);
    }
    // 404 when nothing is there, 403 when something is but it is not a file
    // (a folder without default_filename, a device): Tornado's split.
    if (found.kind == PathKind::missing) throw HTTPError(404);
    if (found.kind != PathKind::regular_file) throw HTTPError(403, path_ + " is not a file");
    // What stat_file() would ask again: one stat() serves the whole request.
    stat_ = FileStat{found.size, found.modified, found.changed_ns, file};
    return file;
}

// Stat once per request: the size, the time and the Etag then describe
// the same version of the file. validate_absolute_path has usually looked
// already; a subclass's may not have, or may have chosen another file. A
// file gone since validate_absolute_path is a 404.
const StaticFileHandler::FileStat& StaticFileHandler::stat_file() {
    if (!absolute_path_) throw HTTPError(404);
    if (!stat_ || stat_->path != *absolute_path_) {
        PathStatus found = look_at(*absolute_path_);
        if (found.kind != PathKind::regular_file) throw HTTPError(404);
        stat_ = FileStat{found.size, found.modified, found.changed_ns, *absolute_path_};
    }
    return *stat_;
}

std::optional<std::time_t> StaticFileHandler::get_modified_time() { return stat_file().modified; }

std::int64_t StaticFileHandler::get_content_size() { return stat_file().size; }

std::string StaticFileHandler::get_content_type() {
    return content_type_for(absolute_path_ ? std::string_view(*absolute_path_) : path_);
}

// The headers that describe the content itself. serve() sets them before
// it chooses between 304, 416, 206 and 200, so each of those answers (and
// a HEAD) carries them, as in Tornado's get(). The Etag is known by now
// (compute_etag).
void StaticFileHandler::set_headers() {
    // The fields made here are set without checks (set_known_header); the
    // Etag and the type come from methods a subclass may override, and are
    // checked.
    set_known_header("Accept-Ranges", "bytes");
    set_etag_header();
    if (modified_) set_known_header("Last-Modified", format_timestamp(*modified_));
    std::string content_type = get_content_type();
    if (!content_type.empty()) set_header("Content-Type", content_type);
    std::int64_t cache_time = get_cache_time(path_, modified_, content_type);
    if (cache_time > 0) {
        set_header("Expires", format_timestamp(std::time(nullptr) + cache_time));
        set_header("Cache-Control", "max-age=" + std::to_string(cache_time));
    }
    set_extra_headers(path_);
}

// A versioned URL (static_url's ?v=) never changes: cache it for ten
// years. Tornado looks in request.arguments, query and body together.
std::int64_t StaticFileHandler::get_cache_time(const std::string& /*path*/,
                                               std::optional<std::time_t> /*modified*/,
                                               const std::string& /*mime_type*/) {
    return request().arguments.contains("v") ? CACHE_MAX_AGE : 0;
}

// RFC 9110 section 13.2.2: when If-None-Match is present, If-Modified-Since
// is ignored. An unreadable date is treated as absent, not as an error.
bool StaticFileHandler::should_return_304() {
    if (request().headers.contains("If-None-Match")) return check_etag_header();
    std::string_view since = request().headers.get_first("If-Modified-Since");
    if (since.empty() || !modified_) return false;
    std::optional<std::time_t> date = parse_http_date(since);
    return date && *date >= *modified_;
}

// The content comes from the thread's StaticFileCache (a small file's
// bytes, a large one's open descriptor), checked against the stat this
// request made (stat_file). Each call gives at most kChunkSize: a small
// file's pieces point into the cached bytes (no copy: the connection may
// keep them by reference until the client has them), a large file's are
// read now, unless the connection sends them from the descriptor itself
// (ContentChunks::file, which serve() uses). With an `end`, the pieces
// stop there; a file cut short before it is an error (Content-Length has
// been promised), not a short response.
StaticFileHandler::ContentChunks StaticFileHandler::get_content(const std::string& absolute_path,
                                                                std::optional<std::int64_t> start,
                                                                std::optional<std::int64_t> end) {
    PathStatus seen = stat_ && stat_->path == absolute_path
                          ? PathStatus{PathKind::regular_file, stat_->size, stat_->modified_ns}
                          : look_at(absolute_path);
    std::shared_ptr<const detail::CachedFile> content =
        detail::StaticFileCache::for_this_thread().get(
            absolute_path, detail::FileStamp{seen.size, seen.changed_ns});
    if (!content) throw HTTPError(404);
    std::int64_t offset = start.value_or(0);
    // Without an end, the pieces go to the end of the file as it was read
    // (or opened); with one, a file cut short before it is an error.
    std::int64_t stop = end.value_or(content->stamp.size);
    bool must_reach_stop = end.has_value();
    // Only what fits inline in ContentChunks: no allocation a request.
    auto next_piece = [content, offset, stop,
                       must_reach_stop]() mutable -> std::optional<SharedBytes> {
        if (offset >= stop) return std::nullopt;
        auto wanted = static_cast<std::size_t>(std::min<std::int64_t>(stop - offset, kChunkSize));
        SharedBytes piece;
        if (content->bytes) {
            auto at = static_cast<std::size_t>(offset);
            std::string_view all(*content->bytes);
            if (at < all.size()) piece = SharedBytes(content->bytes, all.substr(at, wanted));
        } else {
            // Not zero-filled first: pread() writes it (the memset was
            // 3.8% of the server's samples in a profile of a large file).
            std::shared_ptr<char[]> read = std::make_shared_for_overwrite<char[]>(wanted);
            ssize_t got = ::pread(content->file->fd(), read.get(), wanted, offset);
            if (got > 0) {
                piece = SharedBytes(read, {read.get(), static_cast<std::size_t>(got)});
            }
        }
        if (piece.bytes.empty()) {
            if (must_reach_stop) {
                throw std::runtime_error("static file shrank while being sent: " + content->path);
            }
            return std::nullopt;
        }
        offset += static_cast<std::int64_t>(piece.bytes.size());
        return piece;
    };
    static_assert(sizeof(next_piece) <= ContentChunks::kInlineRoom);
    if (content->bytes || offset >= stop) return next_piece;
    // A large file: the connection may send [offset, stop) from the open
    // descriptor instead (serve()). The entry keeps it open.
    FileBytes file{content, content->file->fd(), offset, static_cast<std::size_t>(stop - offset)};
    return ContentChunks(std::move(next_piece), std::move(file));
}

// SHA-512 through OpenSSL's EVP interface, fed a piece of get_content at a
// time so that a large file never sits in memory whole. The unique_ptr
// frees the context on every return path.
std::string StaticFileHandler::get_content_version(const std::string& absolute_path) {
    ContentChunks next_piece = get_content(absolute_path);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                    EVP_MD_CTX_free);
    if (!context || EVP_DigestInit_ex(context.get(), EVP_sha512(), nullptr) != 1) return {};
    while (std::optional<SharedBytes> piece = next_piece()) {
        EVP_DigestUpdate(context.get(), piece->bytes.data(), piece->bytes.size());
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(context.get(), digest, &size);
    return detail::to_hex(digest, size);
}

std::string StaticFileHandler::make_static_url(const Application& application,
                                               const std::string& path, bool include_version) {
    std::string url = application.settings().static_url_prefix + path;
    if (!include_version) return url;
    std::string version = get_version(application, path);
    return version.empty() ? url : url + "?v=" + version;
}

std::string StaticFileHandler::get_version(const Application& application,
                                           const std::string& path) {
    std::string absolute = get_absolute_path(application.settings().static_path, path);
    return application.static_file_version(absolute, *this);
}

std::string StaticFileHandler::content_type_for(std::string_view path) {
    // The common types of Python's mimetypes (with Debian's /etc/mime.types),
    // which Tornado asks. A fixed table instead of reading mime.types, so the
    // answer does not depend on the machine. "gz" is application/gzip, as
    // Tornado answers for any gzip file (RFC 6713).
    static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
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
    // Lowered once into a small buffer, not compared without case row by
    // row: every static answer asks, and an extension in no row (".bin")
    // was compared with all 29.
    std::string_view extension = name.substr(dot + 1);
    constexpr std::size_t kLongestKnown = 5;  // "woff2"
    static_assert(std::ranges::all_of(
        kTypes, [](const auto& row) { return row.first.size() <= kLongestKnown; }));
    if (extension.empty() || extension.size() > kLongestKnown) return "application/octet-stream";
    char lowered[kLongestKnown];
    for (std::size_t i = 0; i < extension.size(); ++i)
        lowered[i] = detail::ascii_lower(extension[i]);
    std::string_view wanted(lowered, extension.size());
    for (const auto& [known, type] : kTypes) {
        // The first byte before the rest: most rows share the length.
        if (known[0] == wanted[0] && known == wanted) return std::string(type);
    }
    return "application/octet-stream";
}

}  // namespace tornado
