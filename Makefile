# The front door. Every target installs what it needs first (Debian packages,
# through tools/install-deps.sh, which is quick when nothing is missing),
# then drives CMake in build/. `make help` lists the targets.

BUILD   ?= build
JOBS    ?= $(shell nproc)
CH      ?=
TASK    ?=
STEP    ?=
STACK   ?=
EXT     ?=
PYTHON  ?= python3
DEPS     = tools/install-deps.sh
# Ninja, not Make, under CMake: it starts compiling sooner and keeps both
# cores busy, and a build with nothing to do answers at once (a fifth less
# time for the same targets, measured in tests/bench/README.md, "The
# course's own build"). CMake reads this for every build folder it creates.
export CMAKE_GENERATOR ?= Ninja

# `make run` builds one program and nothing else, then starts it: the demo
# app of final/ unless RUN_TARGET names another (make run RUN_TARGET=ch03_server),
# with its own defaults unless RUN_ARGS gives options. EXERCISE=1 runs a
# chapter's demo on the learner's exercise instead (RUN_TARGET_exercise,
# built with the sanitizers as make grade builds it), so that the lesson's
# clients talk to the learner's code. tools/run_demo.py prints what to type
# in a second terminal, and gives a demo that needs PostgreSQL (the blog,
# ch09_app) a cluster of its own in build/RUN_TARGET-postgres, kept with
# its data.
RUN_TARGET ?= demo_app
RUN_ARGS   ?=
EXERCISE   ?=

.PHONY: all build run test test-deps test-clang check check-asan check-tsan check-quick format grade hint mutants bench bench-c100k bench-fanout bench-micro bench-template bench-tls bench-http2 bench-http3 bench-h2 bench-loss bench-deploy bench-postgres bench-db bench-tfb fuzz soak slides docs help clean deps configure

all: build

## build        build every chapter, test and demo (the default target)
build: configure
	cmake --build $(BUILD) -j $(JOBS)

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

deps:
	@$(DEPS) build

## run          build the demo app alone, start it and say how to talk to it [RUN_TARGET=ch03_server] [EXERCISE=1: on your exercise] [RUN_ARGS=--port=9000]
# The blog is a target only where CMake found libcmark: a build folder
# configured before it was installed is configured again.
run: configure
	@if [ "$(RUN_TARGET)" = blog ] && [ ! -x $(BUILD)/bin/blog ]; then cmake -S . -B $(BUILD) > /dev/null; fi
	cmake --build $(BUILD) -j $(JOBS) --target $(RUN_TARGET)$(if $(EXERCISE),_exercise)
	@$(PYTHON) tools/run_demo.py --build $(BUILD) $(if $(EXERCISE),--exercise) $(RUN_TARGET) $(RUN_ARGS)

## test         build, then run every test under CTest (chapters, exercises, framework, clients, browser)
# Most tests wait (on sockets, timers, child processes) more than they
# compute: at twice as many tests at once as cores, the two cores were
# half idle, so CTest runs three times as many. How the tests share the
# machine (none alone, locks for what cannot be shared, the longest
# first) is said at the top of tests/CMakeLists.txt.
TEST_JOBS ?= $(shell echo $$(( $(JOBS) * 3 )))
# After a failed ctest (run in the build folder): the failed cases named
# last, where a terminal or a CI page that keeps only the end still shows them.
name_failed_cases = { $(PYTHON) $(CURDIR)/tools/failed_cases.py .; exit 1; }
test: build test-deps
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 300 || $(name_failed_cases)

# What the tests need beyond the build: Chromium and Marp (from npm), the oracles,
# nginx and Redis (the deployment test), wrk (the load smokes, skipped
# without it), clang (final.parity reads the headers with it).
test-deps:
	@$(DEPS) browser slides template deploy load clang docs
	@test node_modules/.installed-by-npm-ci -nt package-lock.json -a node_modules/.installed-by-npm-ci -nt package.json \
	  || { npm ci --no-audit --no-fund && touch node_modules/.installed-by-npm-ci; }

## test-clang   final/ and its tests built by the second compiler, clang 14, in build-clang/
# final/ builds warning-free with g++ 12 (make test) and clang 14 (this).
# Only final/'s folders are built (Ninja has a target DIR/all for each
# folder): the chapters are the same code for both compilers and would
# double the time. Every file is compiled on its own here, not in the
# unity batches of make test: an #include a file lacks fails here even
# when an earlier file of its batch brought the header. About 20 minutes
# from nothing on two cores.
CLANG_BUILD ?= build-clang
CLANG_CONFIGURE = test -f $(CLANG_BUILD)/CMakeCache.txt || cmake -S . -B $(CLANG_BUILD) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DCOURSE_UNITY_BUILD=OFF
test-clang: test-deps
	@$(DEPS) build clang
	@$(CLANG_CONFIGURE)
	cmake --build $(CLANG_BUILD) -j $(JOBS) --target final/all tests/final/all
	cd $(CLANG_BUILD) && ctest -L final --output-on-failure -j $(JOBS) --timeout 300 || $(name_failed_cases)

## check        final/'s tests and the demo app's checks under ASan+UBSan (build-asan/), its test programs under TSan (build-tsan/)
# g++ builds only final/'s folders (as test-clang does), the library at
# -O1 and the test programs at -Og, with line tables (-g1: the
# sanitizers' reports name file and line; full debug
# information made the library compile 1.6 times as long under ASan and
# UBSan, measured in tests/bench/README.md), and runs every CTest test
# labelled final: the unit tests one process each, the corpus replays,
# and the Python black-box checks, which then drive the ASan builds of
# demo_app and the examples (about 20 minutes from nothing on two cores).
# check-quick is the part CI runs after make test (.ci/run): final/'s
# test programs (final_tests builds them all), one process each, and the
# demo app's checks, on the same build. Tests that measure heap blocks or
# count system calls skip themselves under a sanitizer. check-tsan builds
# the test programs with TSan and runs them the same way: the tests whose
# server and client, or loop and executor, are on two threads are the
# ones it watches. CI leaves it out to keep a margin under 45 minutes.
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
ASAN_CONFIGURE = test -f $(ASAN_BUILD)/CMakeCache.txt || cmake -S . -B $(ASAN_BUILD) \
	  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DSANITIZE=address,undefined
export ASAN_OPTIONS ?= detect_leaks=1
# $(call run_final_tests,BIN_DIR,ENV): every final_*_tests program in
# BIN_DIR, one process each, all of its tests; stops at the first that fails.
run_final_tests = for program in $(1)/final_*_tests; do echo "$$program"; \
	  $(2) $$program --gtest_brief=1 || exit 1; done
check: check-asan check-tsan
check-asan: test-deps
	@$(DEPS) build
	@$(ASAN_CONFIGURE)
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target final/all tests/final/all
	cd $(ASAN_BUILD) && ctest -L final --output-on-failure -j $(JOBS) --timeout 600 || $(name_failed_cases)

check-tsan: test-deps
	@$(DEPS) build
	@test -f $(TSAN_BUILD)/CMakeCache.txt || cmake -S . -B $(TSAN_BUILD) \
	  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DSANITIZE=thread
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target final_tests
	@$(call run_final_tests,$(TSAN_BUILD)/bin,TSAN_OPTIONS=halt_on_error=1)

## check-quick  what CI runs after make test: final/'s test programs under ASan+UBSan, and the demo app's checks
check-quick: test-deps
	@$(DEPS) build
	@$(ASAN_CONFIGURE)
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target final_tests demo_app
	@$(call run_final_tests,$(ASAN_BUILD)/bin,)
	$(PYTHON) tests/clients/final_demo_app_test.py $(ASAN_BUILD)/bin/demo_app

## format       lay out final/'s C++ by .clang-format (course.format, under make test, checks it)
format:
	@$(DEPS) build
	tools/format.sh

## lint         clang-tidy 22's chosen checks over final/'s coroutines (final/.clang-tidy; course.lint, under make test, runs it)
lint: configure
	@$(DEPS) clang
	$(PYTHON) tools/lint.py $(BUILD)

## grade        grade an exercise: make grade CH=03 [TASK=2]; the capstone: make grade CH=11 [STACK=chapters] [EXT=1]
# CH=11, the capstone, builds the learner's chat on the learner's exercises
# 03 to 08, or with STACK=chapters on the chapters' code, and grades it
# with its driver (tests/11-capstone/driver.py): TASK=N is part N. EXT=1
# grades its extension too (part 5: two servers through redis-server).
grade: configure
	@test -n "$(CH)" || { echo "usage: make grade CH=NN [TASK=N]"; exit 2; }
	@$(PYTHON) tools/grade.py --build --build-dir $(BUILD) --chapter $(CH) $(if $(TASK),--task $(TASK)) $(if $(STACK),--stack $(STACK)) $(if $(EXT),--ext)

## hint         a hint for one exercise task, a step at a time: make hint CH=03 TASK=2 [STEP=2]
hint:
	@test -n "$(CH)" -a -n "$(TASK)" || { echo "usage: make hint CH=NN TASK=N [STEP=N]"; exit 2; }
	@$(PYTHON) tools/grade.py --chapter $(CH) --hint $(TASK) $(if $(STEP),--step $(STEP))

## mutants      prove each task's tests catch likely wrong answers: make mutants [CH=03] [TASK=2]
# Each mutant of tests/mutants/chNN.txt is built in build/mutants/ (a private
# copy of the sources) and must make its task's tests fail. Minutes per chapter.
mutants: deps
	@$(PYTHON) tools/mutants.py --work-dir $(BUILD)/mutants $(if $(CH),--chapter $(CH)) $(if $(TASK),--task $(TASK))

## bench        blocking vs async servers under load, then instructions per request; tables + plot in build/bench/ [ARGS=--quick]
# The bench packages go in before the build: libboost-dev brings Boost.Beast,
# and CMake has a beast_ws_echo target only if it found Boost when it
# configured. So while beast_ws_echo is missing, CMake configures again (a
# build folder configured before Boost was there would never look for it
# again). Beast's program is not part of the default build: the target
# bench_programs adds it.
bench:
	@$(DEPS) build bench
	@test -x $(BUILD)/bin/beast_ws_echo || cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS) --target all bench_programs
	$(PYTHON) tests/bench/run_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)
	/usr/bin/python3 tests/bench/plot.py $(BUILD)/bench/results.csv $(BUILD)/bench
	$(PYTHON) tests/bench/instructions.py --bin $(BUILD)/bin --out $(BUILD)/bench \
	  --servers final_http_hello,final_hello,final_http_hello_io_uring,final_hello_io_uring,nginx

## bench-c100k  100,000 idle keep-alive connections: memory, accept rate, a new request's latency (build/bench/c100k.md) [ARGS="--websocket --reuse-port"]
# ARGS=--websocket runs the WebSocket echo servers, Beast's among them: so
# everything is built, and CMake configured again while beast_ws_echo is
# missing, as for `make bench`.
bench-c100k:
	@$(DEPS) build bench
	@test -x $(BUILD)/bin/beast_ws_echo || cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS) --target all bench_programs
	$(PYTHON) tests/bench/c100k.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## bench-fanout one chat message to 10,000 long-poll and WebSocket waiters, against Tornado and a bare floor (build/bench/fanout.md)
bench-fanout: configure
	@$(DEPS) build bench
	cmake --build $(BUILD) -j $(JOBS) --target demo_app fanout_load bare_fanout
	$(PYTHON) tests/bench/fanout_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## bench-micro  Google Benchmark micro benchmarks of the hot paths
bench-micro: configure
	cmake --build $(BUILD) -j $(JOBS) --target micro_benchmarks
	$(BUILD)/bin/micro_benchmarks

## bench-template  the template engine vs Python Tornado and Jinja2; table in build/bench/template.md [ARGS=--quick]
# Tornado and Jinja2 are Debian's, for /usr/bin/python3 (the `template` group).
# A build folder configured before template_bench existed has no rule for it:
# CMake configures again while the program is missing.
bench-template: configure
	@$(DEPS) template
	@test -x $(BUILD)/bin/template_bench || cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS) --target template_bench
	/usr/bin/python3 tests/bench/template_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## fuzz         every libFuzzer target FUZZ_SECONDS each (60), new inputs kept in its fuzz_corpus/ [FUZZ_TARGETS=a,b]
# The targets are built by clang in build-clang/ (libFuzzer is clang's);
# tests/final/run_fuzz.py runs them, merges what they learnt into the
# corpus that CTest replays (final.fuzz.*, ch10.fuzz_corpus), and fails on
# a finding, which it leaves in build-clang/fuzz-findings/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_http_head,fuzz_http_server,fuzz_websocket_frames,fuzz_template,fuzz_http_client,fuzz_codecs,fuzz_http2_server,fuzz_hpack,fuzz_http2_frames,fuzz_h2_connection,fuzz_http3_server,fuzz_http3_frames
comma := ,
fuzz:
	@$(DEPS) build clang
	@$(CLANG_CONFIGURE)
	cmake --build $(CLANG_BUILD) -j $(JOBS) --target $(subst $(comma), ,$(FUZZ_TARGETS))
	$(PYTHON) tests/final/run_fuzz.py --bin $(CLANG_BUILD)/bin --seconds $(FUZZ_SECONDS) --targets $(FUZZ_TARGETS)

## bench-tls    our HTTPS vs nginx's (keep-alive, new handshakes); table in build/bench/tls.md [ARGS=--quick]
# The bench group brings wrk and nginx-light; tls_bench.py makes the run's
# certificate with the openssl command and starts final_hello with it.
bench-tls: configure
	@$(DEPS) build bench
	cmake --build $(BUILD) -j $(JOBS) --target final_hello
	$(PYTHON) tests/bench/tls_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## bench-http2  our HTTP/2 (h2c and h2) vs nginx's and h2o's, hello and a 16 KB file, h2load; table in build/bench/http2.md [ARGS=--quick, or one cell: --ways --resources --connections --streams --servers]
# The build group brings h2load (nghttp2-client) and curl; the bench group
# nginx-light, h2o and taskset. http2_bench.py makes the run's certificate
# as tls_bench.py does.
bench-http2: configure
	@$(DEPS) build bench
	cmake --build $(BUILD) -j $(JOBS) --target demo_app
	$(PYTHON) tests/bench/http2_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## bench-http3  our HTTP/3 (final_hello --http3) vs ngtcp2's gtlsserver, hello and a 16 KB file, h3_load (our HTTP/2 by h2load as a reference); table in build/bench/http3.md [ARGS=--quick]
# The build group brings ngtcp2, nghttp3 and GnuTLS (final/http3 and
# h3_load), gtlsserver and gtlsclient (ngtcp2-server, ngtcp2-client),
# and h2load (nghttp2-client); the bench group taskset. http3_bench.py makes
# the run's certificate as tls_bench.py does. A build folder configured
# before ngtcp2 was installed has no h3_load and a final_hello without
# --http3: CMake configures again while either is missing.
bench-http3: configure
	@$(DEPS) build bench
	@test -x $(BUILD)/bin/h3_load && $(BUILD)/bin/final_hello --help 2>/dev/null | grep -q -- --http3 \
	  || cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS) --target final_hello demo_app h3_load
	$(PYTHON) tests/bench/http3_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## bench-loss   HTTP/2 over TCP against HTTP/3 over QUIC with packets really lost (0, 1, 2, 5%): time to the last of 61 resources on one connection; build/bench/loss.md + loss.png [ARGS=--quick] (root: a network namespace)
# tests/bench/loss_bench.py makes a network namespace of its own whose
# loopback drops packets at random (nftables), and loads final/'s
# demo_app --http2 over TLS with h2load and an HTTP/3 server with h3_load
# (tests/bench/h3_load.cpp). The bench group brings nftables, ethtool
# and matplotlib; the build group ngtcp2, nghttp3 and gtlsserver
# (ngtcp2-server), which h3_load is built on and loads.
bench-loss: configure
	@$(DEPS) build bench
	@test -x $(BUILD)/bin/h3_load || cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS) --target demo_app h3_load
	$(PYTHON) tests/bench/loss_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## bench-h2     chapter 10's head-of-line blocking, not speed (that is bench-http2): when 60 small resources and 1 slow one arrive over 1 HTTP/2 connection vs 1 and 6 HTTP/1.1 ones; build/bench/h2.md + h2.png [ARGS=--quick]
# Not bench-http2 (final/'s HTTP/2 speed against nginx and h2o): this one
# times when each resource of a page arrives from ch10_h2_server, which
# serves the same Application over h2c and over chapter 05's HTTP/1.1
# (tests/bench/hol_bench.py). The build group brings curl and nghttp2-client
# (nghttp, h2load), the bench group matplotlib. A build folder configured
# before chapter 10 existed has no rule for ch10_h2_server: CMake
# configures again while it is missing.
bench-h2: configure
	@$(DEPS) build bench
	@test -x $(BUILD)/bin/ch10_h2_server || cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS) --target ch10_h2_server
	$(PYTHON) tests/bench/hol_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)
	/usr/bin/python3 tests/bench/plot_h2.py $(BUILD)/bench/h2.csv $(BUILD)/bench

## bench-client the two HTTP clients (AsyncHTTPClient, CurlAsyncHTTPClient) against final_hello and an HTTP/2 nginx; build/bench/client.md [ARGS=--quick]
# The bench group brings nginx-light and taskset; the build group libcurl.
bench-client: configure
	@$(DEPS) build bench
	cmake --build $(BUILD) -j $(JOBS) --target client_bench final_hello
	$(PYTHON) tests/bench/client_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## bench-postgres  tornado::postgres vs libpq alone in plain C, one connection, 1 and 256 in flight; build/bench/postgres.md [ARGS=--quick]
# The bench group brings taskset (util-linux); the build group the server,
# which postgres_bench.py starts in build/bench/postgres-cluster/.
bench-postgres: configure
	@$(DEPS) build bench
	cmake --build $(BUILD) -j $(JOBS) --target postgres_bench postgres_floor
	$(PYTHON) tests/bench/postgres_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## bench-db     a page that waits 50 ms on PostgreSQL, 7 servers: threads vs one loop, Django, Tornado; build/bench/db.md + db.png [ARGS=--quick]
# tests/bench/db_bench.py starts its own PostgreSQL (the build group's) in
# build/bench/db-cluster/ and drives each server with wrk (the bench group,
# with taskset and matplotlib); the db group brings Django, gunicorn,
# psycopg2 and asyncpg for /usr/bin/python3. A build folder configured
# while libpq was missing has no rule for db_threaded: CMake configures
# again while it is missing.
bench-db: configure
	@$(DEPS) build bench db
	@test -x $(BUILD)/bin/db_threaded || cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS) --target ch09_app db_threaded db_final
	$(PYTHON) tests/bench/db_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)
	/usr/bin/python3 tests/bench/plot_db.py $(BUILD)/bench/db.csv $(BUILD)/bench

## bench-tfb    the TechEmpower six on final/ against Python Tornado + asyncpg (and TFB's Drogon: ARGS="--drogon PROGRAM"), with TFB's checks first; build/bench/tfb.md [ARGS=--quick]
# tests/bench/tfb_bench.py starts its own PostgreSQL (the build group's,
# with pg_stat_statements) in build/bench/tfb-cluster/ with TFB's database,
# checks each server with tests/clients/tfb_verify.py, then drives it with
# wrk (the bench group); the db group brings asyncpg for Python Tornado.
bench-tfb: configure
	@$(DEPS) build bench db
	@test -x $(BUILD)/bin/techempower || cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS) --target techempower
	$(PYTHON) tests/bench/tfb_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## bench-deploy demo_app direct, behind nginx (1 and 2 backends), --processes=2: req/s, CPU/request; build/bench/deploy.md [ARGS=--quick]
# nginx runs on final/deploy/nginx.conf.in with only its placeholders
# filled, as users deploy it; on a 2-core machine wrk takes most of a core,
# so the table also says where the ceiling is and why.
bench-deploy: configure
	@$(DEPS) build bench
	cmake --build $(BUILD) -j $(JOBS) --target demo_app
	$(PYTHON) tests/bench/deploy_bench.py --bin $(BUILD)/bin --out $(BUILD)/bench $(ARGS)

## soak         the demo app over HTTP and HTTPS for 5 minutes under well-behaved and abusive clients: fds, RSS, probe; table + build/soak.png [ARGS="--minutes 60"]
# tests/bench/soak.py: at least 100,000 answers beside clients that hang up
# mid-head, mid-body and mid-response, reset, go slow, send too much,
# pipeline 50 deep, and WebSockets and long polls that vanish; beside it a
# second demo_app on HTTPS (--certfile, a certificate made by openssl for
# the run) with keep-alive and wss clients, and clients that hang up
# mid-handshake, send garbage for a ClientHello, or shake hands and vanish.
# It fails unless, on each server, the descriptors come back to the
# baseline, RSS stays within 5% after the warm-up and every probe is
# answered within 50 ms (100 ms over HTTPS, handshake included). The plot
# needs python3-matplotlib (the bench group).
soak: configure
	@$(DEPS) bench
	cmake --build $(BUILD) -j $(JOBS) --target demo_app
	$(PYTHON) tests/bench/soak.py --bin $(BUILD)/bin --plot $(BUILD)/soak.png $(ARGS)

## slides       one HTML deck per chapter in build/slides/
slides:
	@$(DEPS) slides
	$(MAKE) -f slides/slides.mk OUT=$(BUILD)/slides

## docs         the course's site in build/docs/html/: lessons, exercises, the guide, the API reference, search
docs:
	@$(DEPS) docs
	tools/build_docs.sh $(BUILD)/docs
	$(PYTHON) docs/check_reference.py $(BUILD)/docs

## trace-pictures  the loop traced in chapters 03 and 08, drawn again from real runs (TORNADO_TRACE): chapters/03-epoll-ioloop/img/, chapters/08-coroutines/img/
# Each script runs its program traced and checks the trace, as CTest's
# ch03.loop_trace.three_clients and ch08.loop_trace.blocking_wrong do; with
# --pictures it also draws it (tools/trace_plot.py, which needs
# python3-matplotlib for /usr/bin/python3: the bench group). The traces stay
# in build/traces/, to open in https://ui.perfetto.dev.
.PHONY: trace-pictures
trace-pictures: configure
	@$(DEPS) bench
	cmake --build $(BUILD) -j $(JOBS) --target ch03_server ch08_app
	@mkdir -p $(BUILD)/traces
	$(PYTHON) tests/clients/ch03_trace_test.py --server $(BUILD)/bin/ch03_server \
	  --trace $(BUILD)/traces/ch03_three_clients.json --pictures chapters/03-epoll-ioloop/img
	$(PYTHON) tests/clients/ch08_trace_test.py --server $(BUILD)/bin/ch08_app \
	  --trace $(BUILD)/traces/ch08_blocking_wrong.json --pictures chapters/08-coroutines/img

## clean        remove the build folder
clean:
	rm -rf $(BUILD)

## help         list the targets
help:
	@echo "make targets:"
	@sed -n 's/^## /  make /p' $(MAKEFILE_LIST)
