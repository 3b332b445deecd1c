// chat.h: your chat's declarations. main.cpp includes this file; write the
// chat itself in chat.cpp (the build compiles main.cpp and chat.cpp).
// The specification is README.md, beside this file.
#pragma once

#include <cstddef>

namespace chat {

// The waiters the server holds at most unless --max-waiters=N says
// otherwise (README, "Limits").
constexpr std::size_t kDefaultMaxWaiters = 1000;

}  // namespace chat
