// httputil_gzip.cpp: GzipDecompressor (tornado/httputil.h), zlib's inflate
// behind the client's decompress_response and the server's
// decompress_request. Its own file so that httputil.cpp, which the fuzz
// target compiles alone, needs no zlib.
#include <zlib.h>

#include <array>
#include <stdexcept>

#include "tornado/httputil.h"
#include "tornado/log.h"

namespace tornado {

struct GzipDecompressor::Stream {
    Stream() {
        // 16 + MAX_WBITS: the gzip format (header and CRC trailer), not raw zlib.
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
            throw std::runtime_error("zlib: inflateInit2 failed");
    }
    ~Stream() { inflateEnd(&z); }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    z_stream z{};
    bool fed = false;    // some compressed bytes came
    bool ended = false;  // the gzip trailer has been read
};

GzipDecompressor::GzipDecompressor(std::size_t max_output)
    : stream_(std::make_unique<Stream>()), max_output_(max_output) {}

GzipDecompressor::~GzipDecompressor() = default;

std::string GzipDecompressor::decompress(std::string_view compressed) {
    std::string out;
    if (compressed.empty()) return out;
    if (stream_->ended)
        throw HTTPInputError("malformed gzip body: bytes after the end of the gzip data");
    stream_->fed = true;
    z_stream& z = stream_->z;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    z.avail_in = static_cast<uInt>(compressed.size());
    std::array<char, 16 * 1024> buffer;
    // Until zlib has taken all the input and had room to spare for its output.
    do {
        z.next_out = reinterpret_cast<Bytef*>(buffer.data());
        z.avail_out = static_cast<uInt>(buffer.size());
        int status = inflate(&z, Z_NO_FLUSH);
        if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) {
            throw HTTPInputError(
                tornado::format("malformed gzip body: {}", z.msg ? z.msg : "inflate failed"));
        }
        std::size_t produced = buffer.size() - z.avail_out;
        output_ += produced;
        if (output_ > max_output_) {
            throw HTTPInputError(
                413, tornado::format("gzip body inflates past the limit of {} bytes", max_output_));
        }
        out.append(buffer.data(), produced);
        if (status == Z_BUF_ERROR && produced == 0) break;  // it needs more input than there is
        if (status == Z_STREAM_END) {
            stream_->ended = true;
            if (z.avail_in != 0)
                throw HTTPInputError("malformed gzip body: bytes after the end of the gzip data");
            break;
        }
    } while (z.avail_in > 0 || z.avail_out == 0);
    return out;
}

void GzipDecompressor::check_ended() const {
    if (stream_->fed && !stream_->ended)
        throw HTTPInputError("malformed gzip body: it ends before the gzip data does");
}

}  // namespace tornado
