// hpack.h: header compression (RFC 7541), the one part of HTTP/2 this
// chapter takes from a library: nghttp2's standalone HPACK API
// (nghttp2_hd_inflate_*, nghttp2_hd_deflate_*), without its session.
//
// HPACK is not a codec you can apply to one block in isolation: each side
// keeps a dynamic table that every header block updates, so blocks must be
// decoded in the order they were sent, and every block must be decoded,
// even that of a stream about to be refused. Lose one and the next block
// decodes to garbage: that is why an HPACK error is a connection error
// (COMPRESSION_ERROR), never a stream's.
//
//   HeaderDecoder decoder(64 * 1024);                 // one per connection
//   DecodedHeaders fields = decoder.decode(block);     // HEADERS + CONTINUATIONs
//   HeaderEncoder encoder;                             // one per connection
//   std::string block = encoder.encode({{":status", "200"}, {"content-type", "text/html"}});
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct nghttp2_hd_inflater;
struct nghttp2_hd_deflater;

namespace course::http2 {

using HeaderField = std::pair<std::string, std::string>;  // name, value
using HeaderList = std::vector<HeaderField>;

struct DecodedHeaders {
    HeaderList fields;
    // The list was over the decoder's limit: `fields` holds only what came
    // before it. The block was still decoded to its end (the table stays in
    // step); the connection answers 431.
    bool over_limit = false;
};

class HeaderDecoder {
public:
    // max_list_size: SETTINGS_MAX_HEADER_LIST_SIZE, counted as RFC 9113
    // section 6.5.2 does: name + value + 32 bytes per field.
    explicit HeaderDecoder(std::size_t max_list_size);

    // Decodes one complete header block. Throws ConnectionError
    // (COMPRESSION_ERROR) if the block is not valid HPACK.
    DecodedHeaders decode(std::string_view block);

private:
    struct Free {
        void operator()(nghttp2_hd_inflater* inflater) const;
    };
    std::unique_ptr<nghttp2_hd_inflater, Free> inflater_;
    std::size_t max_list_size_;
};

class HeaderEncoder {
public:
    HeaderEncoder();

    // One header block for `fields`, in order. Names must be lower case
    // already (HTTP/2 requires it; the stream does it).
    std::string encode(const HeaderList& fields);

    // The peer's SETTINGS_HEADER_TABLE_SIZE: our dynamic table must fit it.
    void set_max_table_size(std::size_t size);

private:
    struct Free {
        void operator()(nghttp2_hd_deflater* deflater) const;
    };
    std::unique_ptr<nghttp2_hd_deflater, Free> deflater_;
};

}  // namespace course::http2
