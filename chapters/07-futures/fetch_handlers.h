// fetch_handlers.h: the demo's handlers, on chapter 06's RequestHandler in
// callback style (asynchronous(), then finish() from a callback), with
// this chapter's Futures doing the waiting.
//
//   GET /                 HelloWorldHandler        "Hello, world"
//   GET /slow?ms=N        SlowReplyHandler         answers after N ms (a timer)
//   GET /parallel?ms=N    ParallelFetchHandler     fetches /slow?ms=N twice at once,
//                                                  waits with multi(): about N ms
//   GET /sequential?ms=N  SequentialFetchHandler   fetches it twice, one after the
//                                                  other with then(): about 2N ms
//
// The two fetching handlers fetch from their own server: the route gives
// them its base URL ("http://127.0.0.1:8888"), never the client's Host
// header, which would let any client make the server fetch any address.
#pragma once

#include <string>

#include "web.h"

namespace course {

class HelloWorldHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override;
};

class SlowReplyHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override;
};

class ParallelFetchHandler : public RequestHandler {
public:
    // `base_url`: where this server answers /slow (read at each request).
    void initialize(const std::string& base_url) { base_url_ = base_url; }
    void get(const PathArgs& args) override;

private:
    std::string base_url_;
};

class SequentialFetchHandler : public RequestHandler {
public:
    void initialize(const std::string& base_url) { base_url_ = base_url; }
    void get(const PathArgs& args) override;

private:
    std::string base_url_;
};

}  // namespace course
