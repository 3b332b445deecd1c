// web_transforms.cpp: GZipContentEncoding, the output transform behind the
// compress_response setting (Tornado's tornado.web.GZipContentEncoding).
//
// zlib writes the gzip format itself (windowBits 16 + 15). A response in
// one piece is compressed whole (Z_FINISH); a response that is flushed in
// pieces is compressed piece by piece with Z_SYNC_FLUSH, so that what the
// handler flushed reaches the client now, not when the compressor's buffer
// happens to fill.
#include <zlib.h>

#include <array>
#include <stdexcept>

#include "tornado/web.h"

namespace tornado {

// zlib's stream for one response, made only once it is known to be
// gzipped. MAX_WBITS is the largest window; memLevel 8 is zlib's default.
struct GZipContentEncoding::Deflater {
    Deflater() {
        if (deflateInit2(&stream, kLevel, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK) {
            throw std::runtime_error("zlib: deflateInit2 failed");
        }
    }
    ~Deflater() { deflateEnd(&stream); }
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;

    // The compressed form of `chunk`, up to a flush point (or the gzip
    // trailer, when finishing).
    std::string compress(std::string_view chunk, bool finishing) {
        std::string out;
        out.reserve(chunk.size() / 2 + 64);
        // next_in is not const in zlib's API, but deflate only reads it.
        stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(chunk.data()));
        stream.avail_in = static_cast<uInt>(chunk.size());
        int flush = finishing ? Z_FINISH : Z_SYNC_FLUSH;
        std::array<char, 16 * 1024> buffer;
        // Until zlib has taken all the input and had room to write all its
        // output: avail_out left over says it had.
        do {
            stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
            stream.avail_out = static_cast<uInt>(buffer.size());
            int status = deflate(&stream, flush);
            // Z_BUF_ERROR only says no progress was possible (an empty flush).
            if (status == Z_STREAM_ERROR) throw std::runtime_error("zlib: deflate failed");
            out.append(buffer.data(), buffer.size() - stream.avail_out);
        } while (stream.avail_out == 0);
        return out;
    }

    z_stream stream{};
};

// A substring test, as Tornado's: "gzip;q=0" counts as accepting gzip.
GZipContentEncoding::GZipContentEncoding(const HTTPServerRequest& request)
    : gzipping_(request.headers.get("Accept-Encoding").find("gzip") != std::string::npos) {}

GZipContentEncoding::~GZipContentEncoding() = default;

bool GZipContentEncoding::compressible_type(std::string_view content_type) {
    static constexpr std::string_view kTypes[] = {
        "application/javascript", "application/x-javascript", "application/xml",
        "application/atom+xml",   "application/json",         "application/xhtml+xml",
        "image/svg+xml",
    };
    if (content_type.starts_with("text/")) return true;
    for (std::string_view type : kTypes) {
        if (content_type == type) return true;
    }
    return false;
}

std::string GZipContentEncoding::transform_first_chunk(int& status_code, HTTPHeaders& headers,
                                                       std::string chunk, bool finishing) {
    (void)status_code;
    // A cache must keep the gzip and the plain answer apart, whichever this is.
    std::string vary = headers.get("Vary");
    headers.set("Vary", vary.empty() ? "Accept-Encoding" : vary + ", Accept-Encoding");
    if (gzipping_) {
        std::string_view content_type = headers.get_first("Content-Type");
        // The media type without its parameters ("; charset=UTF-8").
        content_type = content_type.substr(0, content_type.find(';'));
        // A whole response under kMinLength would barely shrink, if at all.
        gzipping_ = compressible_type(content_type) && (!finishing || chunk.size() >= kMinLength) &&
                    !headers.contains("Content-Encoding");
    }
    if (!gzipping_) return chunk;
    headers.set("Content-Encoding", "gzip");
    deflater_ = std::make_unique<Deflater>();
    std::string compressed = transform_chunk(std::move(chunk), finishing);
    if (headers.contains("Content-Length")) {
        // The length the handler set was the plain body's. A response that
        // is all here gets the new one; one still to come goes chunked.
        if (finishing) {
            headers.set("Content-Length", std::to_string(compressed.size()));
        } else {
            headers.remove("Content-Length");
        }
    }
    return compressed;
}

// One Deflater for the whole response: each piece continues the same gzip
// stream, and the last (finishing) one writes its trailer.
std::string GZipContentEncoding::transform_chunk(std::string chunk, bool finishing) {
    if (!gzipping_) return chunk;
    return deflater_->compress(chunk, finishing);
}

}  // namespace tornado
