// option_value.h: the one command-line helper the benchmark's own tools
// (ws_load, beast_ws_echo) share. They link nothing of the course, so that
// a measurement of the framework never measures the framework twice.
#pragma once

#include <string>
#include <string_view>

namespace bench {

// The value of "--name=value" when `argument` is that option.
inline bool option_value(std::string_view argument, std::string_view name, std::string& value) {
    std::string prefix = "--" + std::string(name) + "=";
    if (argument.substr(0, prefix.size()) != prefix) {
        return false;
    }
    value = std::string(argument.substr(prefix.size()));
    return true;
}

}  // namespace bench
