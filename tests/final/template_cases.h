// template_cases.h: the cases of template_oracle/cases.txt, shared by
// template_test.cpp, which renders them interpreted and compiled, and by
// template_cases_compile.cpp, which compiles them into C++ for the second.
#pragma once

#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tornado/template.h"

namespace template_cases {

using tornado::JSON;
using tornado::TemplateArguments;
using tornado::TemplateValue;

struct Case {
    std::string name;
    std::map<std::string, std::string> files;
    std::string main;
    JSON args = JSON::object();
    JSON loader = JSON::object();
};

// The format is described at the top of cases.txt; template_oracle.py
// reads it the same way.
inline std::vector<Case> load_cases(const std::string& path = TEMPLATE_ORACLE_DIR "/cases.txt") {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream whole;
    whole << file.rdbuf();
    std::istringstream text(whole.str());
    std::vector<Case> cases;
    std::map<std::string, std::vector<std::string>> sections;
    std::vector<std::string> order;
    std::string section, line;
    auto finish = [&] {
        if (cases.empty()) return;
        for (const auto& [name, lines] : sections) {
            std::string body;
            for (const std::string& each : lines) body += each + "\n";
            while (body.ends_with("\n\n")) body.pop_back();
            if (body.empty()) body = "\n";
            if (name == "args") {
                cases.back().args = JSON::parse(body);
            } else if (name == "loader") {
                cases.back().loader = JSON::parse(body);
            } else {
                cases.back().files[name] = body;
            }
        }
        cases.back().main = order.empty() ? "" : order.front();
        sections.clear();
        order.clear();
    };
    while (std::getline(text, line)) {
        if (line.starts_with("=== ")) {
            finish();
            cases.push_back({line.substr(4), {}, "", JSON::object(), JSON::object()});
            section.clear();
        } else if (cases.empty()) {
            continue;
        } else if (line.starts_with("--- ")) {
            section = line.substr(4);
            if (section != "args" && section != "loader") order.push_back(section);
            sections[section];
        } else if (!section.empty()) {
            sections[section].push_back(line);
        }
    }
    finish();
    return cases;
}

inline std::string text_of(const TemplateArguments& arguments) {
    return std::string(arguments.positional.at(0).as_string());
}

// The functions template_oracle.py puts in every loader's namespace.
inline tornado::TemplateNamespace test_functions() {
    tornado::TemplateNamespace names;
    names.set_function("upper", [](const TemplateArguments& a) {
        std::string text = text_of(a);
        for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return TemplateValue(text);
    });
    names.set_function("wrap", [](const TemplateArguments& a) { return TemplateValue("[" + text_of(a) + "]"); });
    names.set_function("add", [](const TemplateArguments& a) {
        const TemplateValue* b = a.positional.size() > 1 ? &a.positional[1] : a.find_keyword("b");
        return TemplateValue(a.positional.at(0).as_integer() + (b != nullptr ? b->as_integer() : 10));
    });
    names.set_function("shout", [](const TemplateArguments& a) {
        std::string text = text_of(a);
        for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return TemplateValue(text + "!");
    });
    names.set_function("fail", [](const TemplateArguments&) -> TemplateValue {
        throw std::invalid_argument("boom");  // a ValueError, as Python's fail() raises
    });
    return names;
}

// The loader options a case asks for ("--- loader"), with the test functions.
inline tornado::BaseLoader::Options loader_options(const Case& test, bool compiled) {
    tornado::BaseLoader::Options options;
    options.namespace_ = test_functions();
    options.compiled = compiled;
    if (test.loader.contains("autoescape")) {
        const JSON& autoescape = test.loader["autoescape"];
        options.autoescape = autoescape.is_null() ? "" : autoescape.get<std::string>();
    }
    if (test.loader.contains("whitespace")) {
        options.whitespace = test.loader["whitespace"].get<std::string>();
    }
    return options;
}

}  // namespace template_cases
