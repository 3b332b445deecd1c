// handlers.h: blog.py's Application, as routes and settings: every page of
// the blog, each a coroutine handler that queries PostgreSQL through one
// tornado::postgres::Pool that all requests share.
//
//   GET  /                 the five newest posts (no post yet: to /compose)
//   GET  /archive          every post, newest first
//   GET  /feed             the ten newest as an Atom feed
//   GET  /entry/SLUG       one post (404 if there is none)
//   GET  /compose[?id=N]   the form for a new post, or for post N
//   POST /compose          publish (with id: save post N)
//   GET  /auth/create      the form for the blog's one author
//   POST /auth/create      create the author (400 once there is one)
//   GET  /auth/login       sign in (no author yet: to /auth/create)
//   POST /auth/login       sign in, then to `next`
//   GET  /auth/logout      sign out, then to `next`
//
// /compose wants a signed-in author; every POST wants the _xsrf token. A
// database that cannot be reached answers 503.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tornado/postgres.h"
#include "tornado/web.h"

namespace blog {

// The routes, each handler with the pool it queries.
std::vector<tornado::URLSpec> routes(std::shared_ptr<tornado::postgres::Pool> db);

// blog.py's settings: the templates and static files of this folder
// (CMake names them), the Entry module, XSRF protection, signed cookies
// with `cookie_secret`, and /auth/login as the login URL.
tornado::ApplicationSettings settings(std::string cookie_secret);

}  // namespace blog
