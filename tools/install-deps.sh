#!/usr/bin/env bash
# Install the Debian packages a make target needs, and only the missing ones.
#
#   tools/install-deps.sh build     compiler, CMake, Ninja, mold (the faster linker), GoogleTest,
#                                   Google Benchmark, nlohmann-json, OpenSSL, zlib, tcmalloc (gperftools), hiredis (final/'s Redis client),
#                                   libpq and the PostgreSQL server (final/postgres, its tests, the blog demo),
#                                   libcurl (final/curl, the CurlAsyncHTTPClient add-on),
#                                   libnghttp2 (chapter 10's HPACK, and the oracle final/http2's
#                                   tests check its frames, HPACK and session against) and the HTTP/2
#                                   peers the tests talk to (curl and nghttp's nghttp2-client,
#                                   Python's h2), ngtcp2 and nghttp3 with GnuTLS (final/http3, HTTP/3
#                                   over QUIC; h3_load, the benchmarks' HTTP/3 client) and ngtcp2's
#                                   example client and server (gtlsclient, gtlsserver: the HTTP/3 peers),
#                                   protobuf (the gRPC example's messages) and
#                                   Python's grpcio and grpc-tools (the gRPC client it is tested with),
#                                   libcmark (the blog demo's Markdown; libcrypt's bcrypt comes with libc6-dev),
#                                   liburing (the IOLoop's io_uring backend),
#                                   Python Tornado (the oracle the demo app is checked against),
#                                   Python websockets (the WebSocket peer we did not write),
#                                   nc, curl and strace (the lessons talk to servers and watch them),
#                                   gdb (make grade takes a stuck test's stacks with it),
#                                   iproute2 (the demos' test starts them in a network namespace of its own),
#                                   openssl (the TLS tests' certificates and s_client, a TLS peer we did not write),
#                                   clang-format 14 (make format, and the test that final/ is laid out)
#   tools/install-deps.sh bench     + wrk, matplotlib (for the plot), util-linux (taskset),
#                                   nginx and Python Tornado (the framework scenario's yardsticks),
#                                   h2o (make bench-http2's second HTTP/2 yardstick, beside nginx),
#                                   Boost (Beast, the WebSocket scenario's), valgrind (instructions
#                                   per request, tests/bench/instructions.py), heaptrack (the
#                                   soak's live heap, soak.py --heaptrack), nftables and ethtool
#                                   (loss_bench.py drops packets in a network namespace of its own)
#   tools/install-deps.sh load      + wrk alone: what make test's load smokes need (bench.smoke,
#                                   bench.tfb_smoke, bench.db_smoke, bench.deploy_smoke), which
#                                   are skipped without it
#   tools/install-deps.sh template  + Python Tornado and Jinja2 for /usr/bin/python3 (make bench-template's
#                                   yardsticks)
#   tools/install-deps.sh db        + Django, gunicorn, psycopg2 and asyncpg for /usr/bin/python3
#                                   (make bench-db's Python servers: Django under gunicorn's
#                                   gthread worker, Python Tornado with an asyncpg pool)
#   tools/install-deps.sh deploy    + nginx and Redis (the deployment test: backends behind nginx,
#                                   the chat shared through Redis pub/sub)
#   tools/install-deps.sh drogon    + what TechEmpower's Drogon entry builds with
#                                   (tests/bench/build_drogon_tfb.sh: make bench-tfb's same-run Drogon)
#   tools/install-deps.sh clang     + clang 14 (make test-clang: the second compiler) and
#                                   clang-tidy 22 (make lint)
#   tools/install-deps.sh slides    + Graphviz, Node.js and npm (Marp is pinned in package-lock.json)
#   tools/install-deps.sh browser   + Chromium, Node.js and npm (the browser test, tests/browser/;
#                                   playwright-core is pinned in package-lock.json)
#   tools/install-deps.sh docs      + Doxygen, Sphinx with Breathe and MyST, the Read the Docs theme
#                                   (make docs: the course's site, tools/build_docs.sh), clang 14
#                                   (docs/check_reference.py lists the headers' names with it)
#
# Quick when nothing is missing: it asks dpkg, and runs apt-get only for what
# is absent. Every make target that needs packages calls it first, so a fresh
# Debian 12 machine needs nothing but `make run` or `make test`.
set -euo pipefail

packages_for() {
  case "$1" in
    build)  echo "g++ cmake make ninja-build mold libgtest-dev libgmock-dev libbenchmark-dev libhttp-parser-dev nlohmann-json3-dev libssl-dev zlib1g-dev libgoogle-perftools-dev libhiredis-dev libpq-dev postgresql libcurl4-openssl-dev libnghttp2-dev nghttp2-client python3-h2 libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev libgnutls28-dev ngtcp2-client ngtcp2-server libprotobuf-dev protobuf-compiler python3-grpcio python3-grpc-tools libcmark-dev liburing-dev python3 python3-tornado python3-websockets netcat-openbsd curl openssl strace gdb iproute2 clang-format-14" ;;
    bench)  echo "wrk python3-matplotlib util-linux procps nginx-light h2o python3-tornado libboost-dev valgrind heaptrack nftables ethtool" ;;
    load)   echo "wrk" ;;
    template) echo "python3 python3-tornado python3-jinja2" ;;
    db)     echo "python3 python3-django gunicorn python3-psycopg2 python3-asyncpg" ;;
    deploy) echo "nginx-light redis-server" ;;
    drogon) echo "git cmake g++ libjsoncpp-dev libmimalloc-dev uuid-dev zlib1g-dev libssl-dev libpq-dev libbrotli-dev" ;;
    clang)  echo "clang-14 clang-tidy-22" ;;
    slides) echo "graphviz nodejs npm" ;;
    browser) echo "chromium nodejs npm" ;;
    docs)   echo "doxygen python3-sphinx python3-breathe python3-myst-parser python3-sphinx-rtd-theme clang-14" ;;
    *) echo "install-deps.sh: unknown group '$1' (build, bench, load, template, db, deploy, drogon, clang, slides, browser, docs)" >&2; exit 2 ;;
  esac
}

wanted=()
for group in "${@:-build}"; do
  for pkg in $(packages_for "$group"); do
    # Node.js may come from outside Debian (as on the course machines): a
    # working `node`/`npm` on PATH is as good as the package.
    if [[ $pkg == nodejs || $pkg == npm ]] && command -v "${pkg/nodejs/node}" >/dev/null; then
      continue
    fi
    wanted+=("$pkg")
  done
done

# One dpkg-query for all of them (one per package took most of a second,
# which every make target paid before doing anything): the installed ones.
# dpkg-query fails when one of them is unknown to dpkg, which is fine here.
installed=" $({ dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${wanted[@]}" 2>/dev/null || true; } \
  | awk '$1 == "ii" { printf "%s ", $2 }')"
missing=()
for pkg in "${wanted[@]}"; do
  [[ $installed == *" $pkg "* ]] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing missing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
