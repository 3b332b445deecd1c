// body_chunks.h: a response body as an HTTP/2 or HTTP/3 stream holds it
// (not installed; final/http2's and final/http3's). The stream keeps what
// the handler wrote until the library has taken it (HTTP/2: into a DATA
// frame) or the client has acknowledged it (HTTP/3: nghttp3 points into
// it until then). A piece the handler wrote as SharedBytes (a cached
// file's) is kept by reference; any other is copied once, here.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "tornado/httputil.h"

namespace tornado::detail {

class BodyChunk {
public:
    // By reference when `body` has an owner, else copied.
    explicit BodyChunk(SharedBytes body) {
        if (body.owner) {
            owner_ = std::move(body.owner);
            shared_ = body.bytes;
        } else {
            copy_.assign(body.bytes);
        }
    }
    // Worked out on each call, not kept: a short copy lives inside the
    // string itself, and moves with it when a vector grows.
    std::string_view bytes() const noexcept { return owner_ ? shared_ : std::string_view(copy_); }
    // What keeps shared bytes alive; null for a copy.
    const std::shared_ptr<const void>& owner() const noexcept { return owner_; }

private:
    std::string copy_;                   // the bytes, when they are not shared
    std::shared_ptr<const void> owner_;  // else what keeps them alive
    std::string_view shared_;
};

}  // namespace tornado::detail
