// gzip and gunzip with zlib, for tests that check what goes over the wire
// (web_transforms_test, httputil_gzip_test, httpclient_test). Their test programs link zlib.
#pragma once

#include <zlib.h>

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tornado::testing {

// `text` as one whole gzip stream.
inline std::string gzip(std::string_view text) {
    z_stream stream{};
    if (deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("deflateInit2");
    }
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    stream.avail_in = static_cast<uInt>(text.size());
    std::string out(deflateBound(&stream, static_cast<uLong>(text.size())), '\0');
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    int status = deflate(&stream, Z_FINISH);
    out.resize(out.size() - stream.avail_out);
    deflateEnd(&stream);
    if (status != Z_STREAM_END) throw std::runtime_error("deflate");
    return out;
}

// The bytes a gzip stream holds; throws unless it is one whole, valid stream.
inline std::string gunzip(std::string_view gzipped) {
    z_stream stream{};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("inflateInit2");
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gzipped.data()));
    stream.avail_in = static_cast<uInt>(gzipped.size());
    std::string out;
    std::array<char, 4096> buffer;
    int status = Z_OK;
    while (status == Z_OK) {
        stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
        stream.avail_out = static_cast<uInt>(buffer.size());
        status = inflate(&stream, Z_NO_FLUSH);
        out.append(buffer.data(), buffer.size() - stream.avail_out);
    }
    inflateEnd(&stream);
    if (status != Z_STREAM_END || stream.avail_in != 0) throw std::runtime_error("not one whole gzip stream");
    return out;
}

}  // namespace tornado::testing
