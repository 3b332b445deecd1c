// web_static.cpp: StaticFileHandler and the static-file version hashes of
// tornado/web.h (Tornado's StaticFileHandler, in web.py).
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

constexpr std::size_t kChunkSize = 64 * 1024;

struct FileInfo {
    std::int64_t size = 0;
    std::int64_t modified_ns = 0;
    std::time_t modified = 0;
};

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
// os.path.abspath, which Tornado uses).
std::string absolute_path(const std::string& path) {
    std::filesystem::path absolute = std::filesystem::absolute(path).lexically_normal();
    std::string text = absolute.string();
    while (text.size() > 1 && text.ends_with('/')) text.pop_back();
    return text;
}

}  // namespace

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

void StaticFileHandler::initialize(std::string path, std::string default_filename) {
    root_ = absolute_path(path);
    default_filename_ = std::move(default_filename);
}

std::string StaticFileHandler::get_content_version(const std::string& absolute_path) {
    std::ifstream file(absolute_path, std::ios::binary);
    if (!file) return {};
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                    EVP_MD_CTX_free);
    if (!context || EVP_DigestInit_ex(context.get(), EVP_sha512(), nullptr) != 1) return {};
    std::string buffer(kChunkSize, '\0');
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
    // which Tornado asks.
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

std::optional<std::string> StaticFileHandler::validate_path(const std::string& path) {
    if (path.find('\0') != std::string::npos) throw HTTPError(404);
    std::string absolute = absolute_path(root_ + "/" + path);
    if (!(absolute + "/").starts_with(root_ + "/")) {
        throw HTTPError(403, path + " is not in root static directory");
    }
    if (is_directory(absolute) && !default_filename_.empty()) {
        // A folder's URL ends in '/', so that its page's relative links work.
        if (!request().path.ends_with('/')) {
            redirect(request().path + "/", true);
            return std::nullopt;
        }
        absolute += "/" + default_filename_;
    }
    if (!exists(absolute)) throw HTTPError(404);
    if (!regular_file_info(absolute)) throw HTTPError(403, path + " is not a file");
    return absolute;
}

bool StaticFileHandler::should_return_304(std::time_t modified) const {
    if (request().headers.contains("If-None-Match")) return check_etag_header();
    std::string_view since = request().headers.get_first("If-Modified-Since");
    if (since.empty()) return false;
    std::optional<std::time_t> date = parse_http_date(since);
    return date && *date >= modified;
}

Task<void> StaticFileHandler::serve(std::string path, bool include_body) {
    std::optional<std::string> file_path = validate_path(path);
    if (!file_path) co_return;
    std::optional<FileInfo> info = regular_file_info(*file_path);
    if (!info) throw HTTPError(404);

    std::string version = application().static_file_version(*file_path);
    if (!version.empty()) etag_ = "\"" + version + "\"";
    set_header("Accept-Ranges", "bytes");
    set_etag_header();
    set_header("Last-Modified", format_timestamp(info->modified));
    set_header("Content-Type", content_type_for(*file_path));
    if (request().query_arguments.contains("v")) {
        // A versioned URL (static_url) never changes: cache it for ten years.
        set_header("Expires", format_timestamp(std::time(nullptr) + 10L * 365 * 86400));
        set_header("Cache-Control", "max-age=" + std::to_string(10L * 365 * 86400));
    }
    if (should_return_304(info->modified)) {
        set_status(304);
        co_return;
    }

    std::int64_t size = info->size;
    std::int64_t start = 0;
    std::int64_t end = size;
    if (std::string_view range_header = request().headers.get_first("Range");
        !range_header.empty()) {
        if (auto range = parse_request_range(range_header)) {
            std::optional<std::int64_t> first = range->first;
            std::optional<std::int64_t> last = range->second;
            if (first && *first < 0) first = std::max<std::int64_t>(0, *first + size);
            if ((first && (*first >= size || (last && *first >= *last))) || (last && *last == 0)) {
                set_status(416);
                set_header("Content-Type", "text/plain");
                set_header("Content-Range", "bytes */" + std::to_string(size));
                co_return;
            }
            if (last && *last > size) last = size;
            start = first.value_or(0);
            end = last.value_or(size);
            if (end - start != size) {
                set_status(206);
                set_header("Content-Range", content_range(first, last, size));
            }
        }
    }
    set_header("Content-Length", end - start);
    if (!include_body) co_return;

    std::ifstream file(*file_path, std::ios::binary);
    if (!file) throw HTTPError(404);
    file.seekg(start);
    std::string buffer;
    for (std::int64_t remaining = end - start; remaining > 0;) {
        buffer.resize(static_cast<std::size_t>(std::min<std::int64_t>(remaining, kChunkSize)));
        file.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        if (file.gcount() <= 0)
            throw std::runtime_error("static file shrank while being sent: " + *file_path);
        buffer.resize(static_cast<std::size_t>(file.gcount()));
        remaining -= file.gcount();
        write(buffer);
        if (remaining > 0) co_await flush();
    }
}

}  // namespace tornado
