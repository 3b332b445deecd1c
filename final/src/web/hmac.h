// hmac.h: the framework's one HMAC (signed cookies in web.cpp, OAuth
// signatures in auth.cpp), over OpenSSL's one-shot HMAC(): each caller
// signs a few short strings per request, so a kept context would save
// nothing worth its code.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>

namespace tornado::detail {

// The raw digest of `data` keyed with `key`, under `digest` (EVP_sha1(),
// EVP_sha256(), ...).
inline std::string hmac_digest(const EVP_MD* digest, std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(digest, key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
    return std::string(reinterpret_cast<const char*>(out), size);
}

}  // namespace tornado::detail
