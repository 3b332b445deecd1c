// fuzz_read_everything.h: the handler of the server fuzz targets
// (fuzz_http_server.cpp, fuzz_http2_server.cpp). It reads what a handler
// can read, so that every decoding path runs on the fuzzer's bytes.
#pragma once

#include <cstddef>
#include <string>

#include "tornado/web.h"

class ReadEverything : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs& args) override { read_all(args); }
    void post(const tornado::PathArgs& args) override { read_all(args); }
    void put(const tornado::PathArgs& args) override { read_all(args); }

private:
    void read_all(const tornado::PathArgs& args) {
        std::size_t total = args.size();
        for (const auto& [name, values] : request().arguments) {
            total += get_arguments(name).size() + get_query_arguments(name).size() +
                     get_body_arguments(name).size();
        }
        for (const auto& [name, value] : request().cookies()) total += get_cookie(name)->size();
        for (const auto& [name, files] : request().files) total += files.size();
        write(std::to_string(total));
    }
};
