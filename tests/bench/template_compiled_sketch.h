// template_compiled_sketch.h: the benchmark page as a template compiler
// would emit it (see template_compiled_sketch.cpp).
#pragma once

#include <cstddef>
#include <string>

#include "tornado/escape.h"

namespace bench {

// The page for template_bench's arguments, byte-identical to the engine's;
// `reserve`: the bytes to reserve for it, as the engine reserves its last
// page's size.
std::string render_page_compiled_sketch(const tornado::JSON& arguments, std::size_t reserve);

}  // namespace bench
