// python_int.h (inside final/src, not installed): Python's floor division
// and modulo on 64-bit integers, for the template engine's // and % and
// for the plural-form expressions of translations (locale.cpp).
//
// Python's quotient rounds down and its remainder takes the divisor's sign
// (-7 // 2 == -4, -7 % 2 == 1); C++ truncates toward zero, so a quotient
// with a remainder and operands of opposite signs is one too high. The
// caller rules out b == 0, and a // b for a == INT64_MIN, b == -1 (2**63
// does not fit): each raises its own language's error for them.
#pragma once

#include <cstdint>

namespace tornado::detail {

inline std::int64_t python_floor_divide(std::int64_t a, std::int64_t b) {
    std::int64_t quotient = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --quotient;
    return quotient;
}

inline std::int64_t python_floor_modulo(std::int64_t a, std::int64_t b) {
    if (b == -1) return 0;  // anything % -1 is 0, and INT64_MIN % -1 would trap in C++
    std::int64_t remainder = a % b;
    if (remainder != 0 && ((remainder < 0) != (b < 0))) remainder += b;
    return remainder;
}

}  // namespace tornado::detail
