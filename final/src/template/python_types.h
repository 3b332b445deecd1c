// python_types.h (inside final/src, not installed): what every part of the
// template engine's Python runtime shares (the interpreter, the operations,
// python_format): the exception that carries a Python error, and the
// numeric kinds of TemplateValue as Python sees them.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "tornado/template.h"

namespace tornado::template_detail {

// A Python exception raised while evaluating: its type ("KeyError") and
// Python's str() of it ("'x'"). The template's node adds the file and the
// line and turns it into a TemplateError.
class PythonError : public std::exception {
public:
    PythonError(std::string type, std::string message, std::exception_ptr cause = nullptr)
        : type_(std::move(type)),
          message_(std::move(message)),
          what_(type_ + ": " + message_),
          cause_(std::move(cause)) {}
    const std::string& type() const { return type_; }
    const std::string& message() const { return message_; }
    const char* what() const noexcept override { return what_.c_str(); }
    // What a C++ function threw, when this error stands for it.
    const std::exception_ptr& cause() const { return cause_; }

private:
    std::string type_;
    std::string message_;
    std::string what_;
    std::exception_ptr cause_;
};

[[noreturn]] inline void raise(std::string type, std::string message) {
    throw PythonError(std::move(type), std::move(message));
}

// Python's bool is a subclass of int: True + 1 is 2, and True can index a
// list. So "integral" means int or bool throughout the runtime.
inline bool is_integral(const TemplateValue& value) {
    return value.type() == TemplateValue::Type::integer ||
           value.type() == TemplateValue::Type::boolean;
}

inline bool is_numeric(const TemplateValue& value) {
    return is_integral(value) || value.type() == TemplateValue::Type::floating;
}

}  // namespace tornado::template_detail
