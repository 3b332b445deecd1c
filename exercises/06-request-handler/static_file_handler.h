// static_file_handler.h: a handler that serves the files under one
// directory, as web servers do for images, style sheets and scripts.
// Tornado's tornado.web.StaticFileHandler.
//
//   Application app({
//       {"/static/(.*)", handler<StaticFileHandler>("/srv/www/static")},
//       {"/site/(.*)", handler<StaticFileHandler>("/srv/www/site", "index.html")},
//   });
//   GET /static/css/app.css  ->  the file /srv/www/static/css/app.css
//
// The route's group (percent-decoded by the router) is a path under the
// root directory. The rules, which the tests check against Tornado 6.2's
// answers (where we differ, it says so):
//
// * GET and HEAD. HEAD answers with GET's status and headers
//   (Content-Length is the file's size) and no body.
// * Only files inside the root. The group is joined to the root and made
//   canonical: ".", ".." and symlinks resolved (std::filesystem::
//   weakly_canonical), and so is the root. The result must be the root or
//   below it, or the answer is 403: "../secret", "sub/../../secret", an
//   absolute path ("/etc/passwd"; joining it to the root gives itself), a
//   symlink inside the root that leads out of it. "Below" means the root's
//   path *and a "/"*: /srv/static-other/x is not inside /srv/static.
//   (Tornado checks os.path.abspath, which does not resolve symlinks, so it
//   serves a symlink that leads out; we refuse it.) A path with a NUL byte
//   ("a.txt%00.png") is 404, as in Tornado: the system would stop reading
//   the name at the NUL and serve a.txt.
// * What is there:
//   - nothing: 404 (also "a.txt/", a file's name with a "/" after it;
//     Tornado's abspath drops that "/" and serves a.txt). So is a name the
//     system cannot resolve (one too long, a symlink loop), as in Tornado:
//     use the std::filesystem calls that take a std::error_code, since
//     their exceptions would make it a 500 that anyone could cause;
//   - a directory, with a default_filename: ".../dir/" serves
//     dir/default_filename (404 if it is missing), checked as any path is
//     (a default file that is a symlink out of the root is 403), and
//     ".../dir" is redirected, 301, to the request's path with a "/" added
//     (the page's relative links need it). Not a path that starts with
//     "//", though: 403, since "Location: //host/x/" is a link to another
//     site (Tornado's fix for CVE-2023-28370);
//   - a directory without a default_filename: 403;
//   - anything else that is not a regular file (a FIFO, a socket, a
//     device): 403, and it is never opened: opening a FIFO waits for a
//     writer, and the loop would wait with it. 403, not 500: nothing failed,
//     this handler does not serve such things (Tornado: "is not a file").
// * Content-Type from the extension of the file served (the default file
//   for a directory, a symlink's target): content_type_for(), given below.
//   No charset: the server does not know a file's encoding.
// * Validators. Last-Modified: the file's modification time in whole
//   seconds (the fraction dropped, as Tornado does: an HTTP date has none).
//   Etag: file_etag(), given below. Tornado's Etag is the SHA-512 of the
//   content; we have no SHA-512, so we send nginx's "<mtime hex>-<size hex>".
// * 304 Not Modified, with no body (and no Content-Type or Content-Length):
//   - If the request has a non-empty If-None-Match, it alone decides: 304
//     if it is "*" or one of its comma-separated tags equals the Etag, a
//     W/ prefix ignored (the weak comparison); otherwise the full answer,
//     whatever If-Modified-Since says.
//   - Else If-Modified-Since: 304 if it is an HTTP date no earlier than
//     Last-Modified. Anything else is ignored (the full answer, never an
//     error): a date that does not parse, "Thu, 32 Jan ..." (Tornado: 500),
//     two dates (Tornado reads the first; RFC 9110 says ignore them).
// * Range, one range of bytes, checked after the 304 rules:
//   - "bytes=a-b" (b included), "bytes=a-" (to the end), "bytes=-n" (the
//     last n bytes): 206 Partial Content with that slice and
//     Content-Range "bytes first-last/size". An end past the file is cut
//     to it, however large (in "bytes=0-18446744073709551615", b + 1 does
//     not fit in 64 bits); a slice that is the whole file is a 200 (as
//     Tornado: some browsers will not play a 206 answer to "bytes=0-").
//   - Unsatisfiable (a starts at or past the end, b < a, "bytes=-0"): 416,
//     Content-Range "bytes */size", no body, Content-Type text/plain.
//   - Anything else (several ranges, another unit, no digits): ignored,
//     the whole file with 200, as Tornado and RFC 9110 do. We read only
//     "bytes=", digits, "-", digits: Tornado also takes " 1 " and "+1"
//     (Python's int()) and reads "bytes=5" as "bytes=5-".
//   - Accept-Ranges: bytes on every answer about a file.
// * The file (or the slice) is read whole into the output buffer: chapter
//   06 sends a response in one piece at finish(). A 1 GB file costs 1 GB of
//   memory; final/'s StaticFileHandler sends 64 KiB pieces and waits for
//   each to go out before reading the next. Reads block the loop, as
//   Tornado's do; a local disk answers in microseconds.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "httputil.h"
#include "web.h"

namespace course {

// --- Given ------------------------------------------------------------------------

// The Content-Type for a file name, from its extension (any case): the
// names Python's mimetypes gives Tornado, and application/octet-stream
// ("bytes, no idea what") for the rest.
inline std::string content_type_for(std::string_view file_name) {
    static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
        {"html", "text/html"},        {"htm", "text/html"},
        {"css", "text/css"},          {"js", "text/javascript"},
        {"json", "application/json"}, {"txt", "text/plain"},
        {"png", "image/png"},         {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},       {"gif", "image/gif"},
        {"svg", "image/svg+xml"},     {"ico", "image/vnd.microsoft.icon"},
    };
    std::size_t dot = file_name.rfind('.');
    if (dot == std::string_view::npos) return "application/octet-stream";
    std::string extension(file_name.substr(dot + 1));
    for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& [known, type] : kTypes) {
        if (extension == known) return std::string(type);
    }
    return "application/octet-stream";
}

// An HTTP date as a time_t: "Sun, 06 Nov 1994 08:49:37 GMT", or one of the
// two older forms RFC 9110 says a server must still accept. nullopt for
// anything else.
inline std::optional<std::time_t> parse_http_date(std::string_view text) {
    static constexpr const char* kFormats[] = {
        "%a, %d %b %Y %H:%M:%S GMT",  // Sun, 06 Nov 1994 08:49:37 GMT
        "%A, %d-%b-%y %H:%M:%S GMT",  // Sunday, 06-Nov-94 08:49:37 GMT (RFC 850)
        "%a %b %e %H:%M:%S %Y",       // Sun Nov  6 08:49:37 1994 (C's asctime)
    };
    std::string terminated(text);  // strptime reads a C string
    for (const char* format : kFormats) {
        std::tm fields{};
        const char* end = ::strptime(terminated.c_str(), format, &fields);
        if (end != nullptr && *end == '\0') return ::timegm(&fields);
    }
    return std::nullopt;
}

// The Etag of a file: nginx's "<mtime hex>-<size hex>", quoted. It changes
// when the file is rewritten (a new mtime) or resized, without reading the
// file. Its weak spot, which nginx accepts too: a file rewritten within the
// same second at the same size keeps its Etag.
inline std::string file_etag(std::time_t modified, std::uintmax_t size) {
    auto hex = [](std::uintmax_t value) {
        char digits[20];
        return std::string(digits, std::to_chars(digits, digits + sizeof digits, value, 16).ptr);
    };
    return "\"" + hex(static_cast<std::uintmax_t>(modified)) + "-" + hex(size) + "\"";
}

// --- The Range header ------------------------------------------------------------

// What a Range header asks of a file of `size` bytes.
struct RangeChoice {
    enum class Kind {
        Whole,          // 200, the whole file: no Range, one we ignore, or all of it
        Part,           // 206, bytes [start, end)
        Unsatisfiable,  // 416
    };
    Kind kind = Kind::Whole;
    std::uintmax_t start = 0;
    std::uintmax_t end = 0;  // one past the last byte
};

// EXTENSION (task 5): what `header` (the request's Range, "" if none) asks
// of a file of `size` bytes, by the rules at the top.
inline RangeChoice choose_range([[maybe_unused]] std::string_view header,
                                [[maybe_unused]] std::uintmax_t size) {
    // TODO(task 5): read "bytes=a-b", "bytes=a-", "bytes=-n"; decide Whole,
    // Part or Unsatisfiable as Tornado does.
    throw std::logic_error("TODO(task 5): choose_range");
}

// --- The handler --------------------------------------------------------------------

class StaticFileHandler : public RequestHandler {
public:
    // default_filename: the file a directory's URL serves ("index.html");
    // empty for none (then a directory is 403).
    void initialize(std::string root_directory, std::string default_filename = "") {
        root_directory_ = std::move(root_directory);
        default_filename_ = std::move(default_filename);
    }

    void get(const PathArgs& args) override { serve(args.at(0), true); }
    void head(const PathArgs& args) override { serve(args.at(0), false); }

private:
    // EXTENSION (task 5): the three steps of Tornado's StaticFileHandler.get.
    // Helper functions of your own are welcome (in this class or inline in
    // this file).

    // Tornado's validate_absolute_path: the canonical path of the regular
    // file to serve, or nullopt after redirecting a directory to its "/".
    // Throws HTTPError 403 or 404.
    std::optional<std::filesystem::path> validate_path([[maybe_unused]] const std::string& path) {
        // TODO(task 5): resolve the path under the root, check that it stays
        // inside, then decide by what is there (the rules at the top).
        throw std::logic_error("TODO(task 5): validate_path");
    }

    // Tornado's should_return_304: do the request's If-None-Match or
    // If-Modified-Since say the client's copy is current?
    bool should_return_304([[maybe_unused]] std::string_view etag,
                           [[maybe_unused]] std::time_t modified) const {
        // TODO(task 5): If-None-Match alone decides when it is there; else
        // If-Modified-Since.
        throw std::logic_error("TODO(task 5): should_return_304");
    }

    // Tornado's StaticFileHandler.get(path, include_body): validate, set the
    // headers, answer 304, 416, 206 or 200, and write the bytes (not for HEAD).
    void serve([[maybe_unused]] const std::string& path, [[maybe_unused]] bool include_body) {
        // TODO(task 5): the file's size and whole-second modification time,
        // the headers, then the status and the body by the rules at the top.
        throw std::logic_error("TODO(task 5): serve");
    }

    std::string root_directory_;
    std::string default_filename_;
};

}  // namespace course
