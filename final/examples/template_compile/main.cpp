// final_template_compile: compiles a folder of templates into C++
// (tornado/template_compiled.h), the build step tornado_compile_templates()
// in final/CMakeLists.txt runs.
//
//   build/bin/final_template_compile templates/ build/page_templates.cpp
//   build/bin/final_template_compile templates/ out.cpp --autoescape= --whitespace=all
//   build/bin/final_template_compile templates/ out.cpp --suffix=.html --suffix=.js
//
// Every file under the folder is loaded as a Loader with the same options
// would load it at run time (--autoescape=NAME, empty for none; --whitespace=
// MODE), so that the hashes match; with --suffix, only the files whose names
// end so. A template that does not parse stops the
// build with its ParseError; one the compiler leaves to the interpreter is
// listed, with the reason, and works as before. The output file is written
// only when its text changes, so an unchanged folder rebuilds nothing.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/template.h"
#include "tornado/template_compiled.h"

namespace {

int usage() {
    std::cerr << "usage: final_template_compile TEMPLATE_DIR OUTPUT.cpp [--autoescape=NAME] "
                 "[--whitespace=MODE] [--suffix=.html ...]\n";
    return 2;
}

// The template names under `root`, as a Loader names them: relative, with
// slashes, sorted so that the output is the same from run to run.
std::vector<std::string> template_names(const std::filesystem::path& root,
                                        const std::vector<std::string>& suffixes) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        if (!entry.is_regular_file()) continue;
        std::string name = std::filesystem::relative(entry.path(), root).generic_string();
        bool wanted = suffixes.empty() ||
                      std::any_of(suffixes.begin(), suffixes.end(), [&](const std::string& suffix) {
                          return name.ends_with(suffix);
                      });
        if (wanted) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string read_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> positional;
    std::vector<std::string> suffixes;
    tornado::BaseLoader::Options options;
    for (int i = 1; i < argc; ++i) {
        std::string_view argument = argv[i];
        if (argument.starts_with("--autoescape=")) {
            options.autoescape = std::string(argument.substr(13));
        } else if (argument.starts_with("--whitespace=")) {
            options.whitespace = std::string(argument.substr(13));
        } else if (argument.starts_with("--suffix=")) {
            suffixes.emplace_back(argument.substr(9));
        } else if (argument.starts_with("--")) {
            return usage();
        } else {
            positional.emplace_back(argument);
        }
    }
    if (positional.size() != 2) return usage();
    const std::string& directory = positional[0];
    const std::string& output = positional[1];

    try {
        // Not using compiled twins: this program may itself have some.
        options.compiled = false;
        tornado::Loader loader(directory, options);
        tornado::CompiledTemplates result =
            tornado::compile_templates(loader, template_names(directory, suffixes));
        for (const auto& [name, why] : result.interpreted) {
            std::cerr << "final_template_compile: " << name
                      << " is left to the interpreter: " << why << "\n";
        }
        if (read_file(output) != result.cpp) {
            std::ofstream file(output, std::ios::binary);
            file << result.cpp;
            if (!file.flush()) {
                std::cerr << "final_template_compile: cannot write " << output << "\n";
                return 1;
            }
        }
        std::cout << "final_template_compile: " << result.compiled.size() << " of "
                  << result.compiled.size() + result.interpreted.size() << " templates in "
                  << directory << " compiled into " << output << "\n";
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "final_template_compile: " << error.what() << "\n";
        return 1;
    }
}
