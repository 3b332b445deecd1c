// random_bytes.h (inside final/src, not installed): bytes from OpenSSL's
// generator, unpredictable enough for secrets: XSRF tokens (web.cpp), and
// the WebSocket handshake's keys and frame masks (websocket_protocol.cpp).
#pragma once

#include <openssl/rand.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace tornado::detail {

inline std::string random_bytes(std::size_t n) {
    std::string bytes(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
        throw std::runtime_error("OpenSSL could not make random bytes");
    }
    return bytes;
}

}  // namespace tornado::detail
