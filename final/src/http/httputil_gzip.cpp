// httputil_gzip.cpp: GzipDecompressor (tornado/httputil.h), zlib's inflate
// behind the client's decompress_response and the server's
// decompress_request. Its own file so that httputil.cpp, which the fuzz
// target compiles alone, needs no zlib.
//
// Stricter than Tornado 6.2's: its GzipDecompressor has no limit on what
// a body inflates to (only on the compressed size), and it ignores bytes
// after the gzip trailer; here both are errors (tornado/httputil.h).
#include <zlib.h>

#include <array>
#include <stdexcept>

#include "tornado/httputil.h"
#include "tornado/log.h"

namespace tornado {

// The z_stream and what decompress() must remember between pieces. A
// struct of its own so that zlib.h stays out of the public header, and so
// that inflateEnd runs exactly once (the destructor; copying is deleted).
struct GzipDecompressor::Stream {
    Stream() {
        // 16 + MAX_WBITS: the gzip format (header and CRC trailer), not raw zlib.
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
            throw std::runtime_error("zlib: inflateInit2 failed");
    }
    ~Stream() { inflateEnd(&z); }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // RFC 1952 section 2.2: a gzip file is a series of members, each with
    // its own header and trailer (a server that compresses its output
    // piece by piece may send several). After one member's trailer, the
    // next byte starts the next member; reset keeps the gzip format.
    void start_next_member() {
        inflateReset(&z);
        ended = false;
    }

    z_stream z{};
    bool fed = false;    // some compressed bytes came
    bool ended = false;  // a member's trailer has been read, and nothing since
};

GzipDecompressor::GzipDecompressor(std::size_t max_output)
    : stream_(std::make_unique<Stream>()), max_output_(max_output) {}

GzipDecompressor::~GzipDecompressor() = default;

// Called once per body piece, as it arrives, by the connection (server) or
// the client's response reader. Each call gives back all that this piece
// inflates to: zlib keeps any partial state (a half-read header, a block
// cut in two) in the z_stream until the next call.
std::string GzipDecompressor::decompress(std::string_view compressed) {
    std::string out;
    // An empty piece after a trailer starts no member (and inflate would
    // only say Z_BUF_ERROR).
    if (compressed.empty()) return out;
    if (stream_->ended) stream_->start_next_member();
    stream_->fed = true;
    z_stream& z = stream_->z;
    // zlib's next_in is not const (unless ZLIB_CONST), but inflate only
    // reads through it. avail_in is 32 bits: this assumes a piece under 4
    // GiB (the server passes at most its chunk_size, 64 KiB by default); a
    // bigger one would be cut short without an error.
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    z.avail_in = static_cast<uInt>(compressed.size());
    // Output goes through a fixed buffer on the stack, so the limit is
    // checked every 16 KiB: a "zip bomb" is stopped after at most
    // max_output_ + 16 KiB, not after it has filled memory.
    std::array<char, 16 * 1024> buffer;
    // Until zlib has taken all the input and had room to spare for its output.
    do {
        z.next_out = reinterpret_cast<Bytef*>(buffer.data());
        z.avail_out = static_cast<uInt>(buffer.size());
        int status = inflate(&z, Z_NO_FLUSH);
        // Z_BUF_ERROR is not an error: zlib could make no progress (it needs
        // more input, or more room), and says so; handled below.
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
        // A member's trailer (CRC and length, which zlib has checked) is
        // read. Bytes after it are the next member, or are refused as not
        // gzip ("incorrect header check"). Tornado inflates the first
        // member only (Python's decompressobj stops there) and drops the
        // rest without a word.
        if (status == Z_STREAM_END) {
            stream_->ended = true;
            if (z.avail_in == 0) break;
            stream_->start_next_member();
        }
    } while (z.avail_in > 0 || z.avail_out == 0);
    return out;
}

// `fed` tells "no body at all" (let through, as Tornado does) from "a
// body cut off inside the gzip data" (malformed).
void GzipDecompressor::check_ended() const {
    if (stream_->fed && !stream_->ended)
        throw HTTPInputError("malformed gzip body: it ends before the gzip data does");
}

}  // namespace tornado
