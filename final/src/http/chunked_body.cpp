// chunked_body.cpp: see chunked_body.h.
//
//   size line ──0──► trailer lines ──empty line──► done
//       │ n > 0
//       ▼
//   n bytes of data (read_data) ──► CRLF ──► next size line
#include "http/chunked_body.h"

#include <string>
#include <string_view>

#include "core/text.h"
#include "tornado/httputil.h"

namespace tornado::detail {

namespace {

// read_until with a limit whose breaking is an HTTPInputError: the stream
// either stays open (close_on_read_limit false, the server's: it answers
// why) or closes (the client's), and both say it the same way.
template <typename MakeError>
Task<std::string> read_line(std::shared_ptr<IOStream> stream, std::size_t limit,
                            MakeError too_long) {
    try {
        co_return co_await stream->read_until("\r\n", limit);
    } catch (const UnsatisfiableReadError&) {
        throw too_long();
    } catch (const StreamClosedError& closed) {
        if (closed.read_limit_broken()) throw too_long();
        throw;
    }
}

// A size line, limited to kMaxChunkSizeLine bytes: a longer one gets its
// own message (and leaves the stream open for the answer that says so).
Task<std::uint64_t> read_chunk_size(std::shared_ptr<IOStream> stream) {
    std::string line = co_await read_line(stream, kMaxChunkSizeLine, [] {
        return HTTPInputError(tornado::format("chunk size line over {} bytes", kMaxChunkSizeLine));
    });
    co_return parse_chunk_size(line);
}

// Trailer fields up to the empty line, `limit` bytes in all. Each is
// checked like a header line (a bad one is a malformed message, as it
// would be in the head), then dropped.
Task<void> read_trailers(std::shared_ptr<IOStream> stream, std::size_t limit) {
    auto too_large = [limit] {
        return HTTPInputError(431,
                              tornado::format("trailer fields over the limit of {} bytes", limit));
    };
    std::size_t trailer_bytes = 0;
    for (;;) {
        std::string line = co_await read_line(stream, limit, too_large);
        if (line == "\r\n") co_return;
        trailer_bytes += line.size();
        if (trailer_bytes > limit) throw too_large();
        std::string_view field(line.data(), line.size() - 2);
        if (!field.empty() && is_ows(field.front()))
            throw HTTPInputError("obsolete line folding in a trailer");
        HTTPHeaders checked;
        checked.parse_line(field);
    }
}

}  // namespace

// read_data by reference: it is the caller's, which co_awaits this at once
// (chunked_body.h says so), and a Function is not copied per request.
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<bool> read_chunked_body(std::shared_ptr<IOStream> stream, std::uint64_t max_body_size,
                             std::size_t max_trailer_size, ChunkDataReader& read_data) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    std::uint64_t total = 0;  // data bytes, without the framing
    for (;;) {
        std::uint64_t size = co_await read_chunk_size(stream);
        if (size == 0) break;
        if (size > max_body_size || total > max_body_size - size) {
            throw HTTPInputError(
                413, tornado::format("chunked body too large: over the limit of {} bytes",
                                     max_body_size));
        }
        total += size;
        if (!co_await read_data(size)) co_return false;
        std::string crlf = co_await stream->read_bytes(2);
        if (crlf != "\r\n") throw HTTPInputError("chunk data not followed by CRLF");
    }
    co_await read_trailers(stream, max_trailer_size);
    co_return true;
}

}  // namespace tornado::detail
