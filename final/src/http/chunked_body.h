// chunked_body.h: reading a chunked body (RFC 9112 section 7.1), one
// reader for both sides: HTTP1Connection reads requests with it,
// AsyncHTTPClient responses. Private to final/src, like text.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

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

}  // namespace tornado::detail
