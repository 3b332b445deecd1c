// openssl_error.h (inside final/src, not installed): what OpenSSL's error
// queue says, for the messages of netutil_ssl.cpp and iostream_ssl.cpp.
#pragma once

#include <openssl/err.h>

#include <string>

namespace tornado::detail {

struct OpenSSLError {
    unsigned long code = 0;  // 0: the queue was empty
    std::string reason;      // "No such file or directory", or "unknown error"
};

// The last error of this thread's queue, which names the actual cause, and
// the queue emptied: errors left there would be blamed on the next call.
inline OpenSSLError take_openssl_error() {
    OpenSSLError last;
    while (unsigned long error = ERR_get_error()) last.code = error;
    const char* reason = last.code != 0 ? ERR_reason_error_string(last.code) : nullptr;
    if (reason != nullptr) {
        last.reason = reason;
    } else {
        last.reason = last.code != 0 ? "error " + std::to_string(last.code) : "unknown error";
    }
    return last;
}

// This thread's queue made empty before an SSL call, as SSL_get_error
// needs it to be. ERR_clear_error itself walks all 16 of the queue's
// slots and frees each one's text, about 1,500 instructions a call even
// when there is nothing to clear (ERR_peek_error: about 200), and a busy
// TLS stream calls SSL_read or SSL_write a few times a request: so it runs
// only when an error is there.
inline void clear_openssl_errors() {
    if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace tornado::detail
