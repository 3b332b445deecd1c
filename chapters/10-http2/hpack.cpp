// hpack.cpp: the two wrappers of hpack.h over nghttp2's HPACK functions.
#include "hpack.h"

#include <nghttp2/nghttp2.h>

#include <new>
#include <stdexcept>

#include "frame.h"

namespace course::http2 {

namespace {

// RFC 9113 section 6.5.2: each field costs its name, its value and 32.
constexpr std::size_t kFieldOverhead = 32;
// Our encoder's dynamic table, the RFC's default; the peer may ask for less.
constexpr std::size_t kEncoderTableSize = 4096;

const std::uint8_t* bytes_of(std::string_view text) {
    return reinterpret_cast<const std::uint8_t*>(text.data());
}

std::string_view text_of(const std::uint8_t* bytes, std::size_t size) {
    return {reinterpret_cast<const char*>(bytes), size};
}

}  // namespace

void HeaderDecoder::Free::operator()(nghttp2_hd_inflater* inflater) const {
    nghttp2_hd_inflate_del(inflater);
}

HeaderDecoder::HeaderDecoder(std::size_t max_list_size) : max_list_size_(max_list_size) {
    nghttp2_hd_inflater* inflater = nullptr;
    if (nghttp2_hd_inflate_new(&inflater) != 0) throw std::bad_alloc();
    inflater_.reset(inflater);
}

// nghttp2's loop: each call consumes some input and may emit one field; the
// FINAL flag says the block is done (nghttp2's documentation shows it).
DecodedHeaders HeaderDecoder::decode(std::string_view block) {
    DecodedHeaders decoded;
    std::size_t list_size = 0;
    const std::uint8_t* in = bytes_of(block);
    std::size_t left = block.size();
    while (true) {
        nghttp2_nv field;
        int inflate_flags = 0;
        ssize_t used = nghttp2_hd_inflate_hd2(inflater_.get(), &field, &inflate_flags, in, left,
                                              /*in_final=*/1);
        if (used < 0) {
            throw ConnectionError(
                ErrorCode::compression_error,
                std::string("HPACK: ") + nghttp2_strerror(static_cast<int>(used)));
        }
        in += used;
        left -= static_cast<std::size_t>(used);
        if (inflate_flags & NGHTTP2_HD_INFLATE_EMIT) {
            list_size += field.namelen + field.valuelen + kFieldOverhead;
            // Past the limit we keep decoding (the table must stay in step)
            // but keep nothing: the memory stays bounded whatever the block.
            if (list_size > max_list_size_) decoded.over_limit = true;
            if (!decoded.over_limit) {
                decoded.fields.emplace_back(text_of(field.name, field.namelen),
                                            text_of(field.value, field.valuelen));
            }
        }
        if (inflate_flags & NGHTTP2_HD_INFLATE_FINAL) break;
        if (!(inflate_flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) {
            throw ConnectionError(ErrorCode::compression_error, "HPACK: the block ends mid-field");
        }
    }
    nghttp2_hd_inflate_end_headers(inflater_.get());
    return decoded;
}

void HeaderEncoder::Free::operator()(nghttp2_hd_deflater* deflater) const {
    nghttp2_hd_deflate_del(deflater);
}

HeaderEncoder::HeaderEncoder() {
    nghttp2_hd_deflater* deflater = nullptr;
    if (nghttp2_hd_deflate_new(&deflater, kEncoderTableSize) != 0) throw std::bad_alloc();
    deflater_.reset(deflater);
}

std::string HeaderEncoder::encode(const HeaderList& fields) {
    std::vector<nghttp2_nv> nva;
    nva.reserve(fields.size());
    for (const auto& [name, value] : fields) {
        // nghttp2 takes non-const pointers but does not write through them.
        nva.push_back(nghttp2_nv{const_cast<std::uint8_t*>(bytes_of(name)),
                                 const_cast<std::uint8_t*>(bytes_of(value)), name.size(),
                                 value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string block(nghttp2_hd_deflate_bound(deflater_.get(), nva.data(), nva.size()), '\0');
    ssize_t size =
        nghttp2_hd_deflate_hd(deflater_.get(), reinterpret_cast<std::uint8_t*>(block.data()),
                              block.size(), nva.data(), nva.size());
    if (size < 0) {
        throw std::runtime_error(std::string("HPACK encode: ") +
                                 nghttp2_strerror(static_cast<int>(size)));
    }
    block.resize(static_cast<std::size_t>(size));
    return block;
}

void HeaderEncoder::set_max_table_size(std::size_t size) {
    // Never more than we allocated for: a peer may only lower what we use.
    int error = nghttp2_hd_deflate_change_table_size(
        deflater_.get(), size < kEncoderTableSize ? size : kEncoderTableSize);
    if (error != 0) throw std::runtime_error("HPACK: cannot change the table size");
}

}  // namespace course::http2
