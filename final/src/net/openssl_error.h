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

}  // namespace tornado::detail
