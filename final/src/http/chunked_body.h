// chunked_body.h: reading and writing a chunked body (RFC 9112 section
// 7.1), once for both sides: HTTP1Connection reads requests and writes
// responses with it, AsyncHTTPClient the other way round. Private to
// final/src, like text.h.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tornado/gen.h"
#include "tornado/iostream.h"
#include "tornado/util.h"

namespace tornado::detail {

// Consumes exactly the next `size` bytes of body from the stream (one
// chunk's data). Returns false to stop reading the body there: the server
// does when the application has answered early.
using ChunkDataReader = Function<Task<bool>(std::uint64_t size)>;

// Reads a chunked body: each size line, its data through `read_data`, the
// CRLF after it; after the last (zero) chunk the trailer fields, checked
// as header lines are and then dropped (the framing was settled by the
// head; nothing may change it now). Returns false if read_data stopped it.
//
// Errors: HTTPInputError naming the problem, with its status: 400 for bad
// framing (a size line that is not hex, over kMaxChunkSizeLine bytes, data
// without its CRLF, a malformed trailer), 413 when the data passes
// max_body_size, 431 when the trailers pass max_trailer_size.
// StreamClosedError if the stream closes first.
//
// Lifetime: `read_data` must live until the returned Task is done (callers
// co_await it at once).
Task<bool> read_chunked_body(std::shared_ptr<IOStream> stream, std::uint64_t max_body_size,
                             std::size_t max_trailer_size, ChunkDataReader& read_data);

// Writing: each piece of data goes out as its size line, the data and a
// CRLF; the last chunk, with no trailer fields, ends the body. A piece of
// no bytes must not be framed: it would read as the last chunk.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Appends the size line (the size in hex, then CRLF) of a chunk of `size`
// bytes.
inline void append_chunk_size_line(std::string& out, std::size_t size) {
    char digits[16];
    auto [end, error] = std::to_chars(digits, digits + sizeof digits, size, 16);
    (void)error;  // 16 hex digits hold any size_t
    out.append(digits, end).append("\r\n");
}

}  // namespace tornado::detail
