// stop_on_signals.h: Ctrl-C (SIGINT) and SIGTERM stop an IOLoop cleanly.
//
// A signal handler may interrupt the loop halfway through changing its own
// state, so it must not touch the loop. Instead the two signals are blocked
// and read from a signalfd, which the loop watches like any socket: the
// "signal" becomes one more readable descriptor, handled on the loop's
// thread between two callbacks. Every demo server from chapter 03 on uses it.
#pragma once

#include <string>

#include "ioloop.h"
#include "socket.h"

namespace course {

// Stops `loop` on SIGINT or SIGTERM, logging "PROGRAM: Interrupt, stopping"
// to stderr. Keep the returned descriptor alive as long as the loop runs.
// Call it before starting other threads: they inherit the blocked signals.
FileDescriptor stop_on_signals(IOLoop& loop, std::string program);

}  // namespace course
