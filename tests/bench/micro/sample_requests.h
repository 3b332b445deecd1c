// sample_requests.h: the HTTP requests the parser benchmarks share, so that
// chapter 05's parser, Debian's http_parser and final/'s parser are timed on
// exactly the same bytes.
#pragma once

#include <string>

namespace sample_requests {

// wrk's request for http://127.0.0.1:8888/.
inline const std::string kSmallGet = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n\r\n";

// What a desktop browser sends for a page (about 750 bytes).
inline const std::string kBrowserGet =
    "GET /articles/2024/event-loops?page=2&sort=recent HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-User: ?1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Referer: https://www.example.com/articles/2024/\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\n"
    "Cookie: session=5f2b8c1e9a7d4e3f; theme=dark; _ga=GA1.2.1234567890.1700000000\r\n"
    "\r\n";

// A login form.
inline const std::string kFormPost =
    "POST /login HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\n"
    "Content-Length: 32\r\n"
    "\r\n"
    "user=alice&password=s3cret%21%21";

}  // namespace sample_requests
