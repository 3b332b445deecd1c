// connection_end.h: the end of a server connection as the application
// hears it, the same for every protocol (HTTP1ServerConnection, and
// tornado::http2's HTTP2ServerConnection and its streams).
#pragma once

#include <exception>
#include <string_view>
#include <utility>

#include "tornado/concurrent.h"
#include "tornado/httputil.h"
#include "tornado/log.h"

namespace tornado::detail {

// Calls an application callback that hears something is over
// (HTTPMessageDelegate::on_connection_close,
// HTTPServerConnectionDelegate::on_close). What it throws is logged as an
// application error and goes no further: these run on the way out, often
// from noexcept code (a stream's close callback, end_serving()), where an
// exception has nowhere to go, and one let through would skip the rest of
// the end (the other streams, the closed Future, the server's list).
// Swallowed unseen, it would hide the application's bug.
template <typename Callback>
void call_ending_callback(std::string_view name, Callback&& callback) noexcept {
    try {
        std::forward<Callback>(callback)();
    } catch (...) {
        app_log.error("Uncaught exception in {}: {}", name,
                      describe_exception(std::current_exception()));
    }
}

// The last of a server connection's end, once its stream is closed or
// handed on: `delegate` hears on_close(&connection) once (it is left
// null, so a second call tells nobody), and `closed`, the Future of
// close() if someone waits on it, resolves.
inline void end_server_connection(HTTPServerConnection& connection,
                                  HTTPServerConnectionDelegate*& delegate,
                                  Future<void>& closed) noexcept {
    if (HTTPServerConnectionDelegate* told = std::exchange(delegate, nullptr)) {
        call_ending_callback("on_close", [&] { told->on_close(&connection); });
    }
    if (closed.valid() && !closed.done()) closed.set_result();
}

}  // namespace tornado::detail
