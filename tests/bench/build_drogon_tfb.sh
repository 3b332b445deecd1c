#!/bin/sh
# Builds TechEmpower's own Drogon entry (the raw-SQL test "drogon-core":
# DbCtrlRaw, QueriesCtrlRaw, FortuneCtrlRaw, UpdatesCtrlRaw on Drogon's fast
# DbClient, libpq in pipeline mode), so that `make bench-tfb` can load it in
# the same run as final/:
#
#   tests/bench/build_drogon_tfb.sh OUT [DROGON_CHECKOUT TFB_CHECKOUT]
#   make bench-tfb ARGS="--drogon OUT/bin/drogon_benchmark"
#
# Without checkouts it clones Drogon (with its trantor submodule) and
# TechEmpower/FrameworkBenchmarks from GitHub, which needs the network.
# With them, DROGON_CHECKOUT is a Drogon tree with trantor/ filled in, and
# TFB_CHECKOUT a FrameworkBenchmarks tree (only frameworks/C++/drogon is
# read). Drogon is checked out at the commit TFB's Dockerfile pins.
#
# Built as TFB builds it (Release, -flto, which gives -O3), with two
# changes a Debian 12 machine needs: Debian's shared mimalloc 2 instead of
# the static mimalloc 1.6.7 TFB builds from source, and the optional parts
# the entry does not use (Brotli, c-ares, MySQL, SQLite, Redis, YAML) off.
# Debian packages: tools/install-deps.sh drogon. About 10 minutes on 2 cores.
set -eu

DROGON_COMMIT=96919df488e0ebaa0ed304bbd76bba33508df3cc   # TFB's drogon-core.dockerfile
if [ $# -ne 1 ] && [ $# -ne 3 ]; then
    echo "usage: $0 OUT [DROGON_CHECKOUT TFB_CHECKOUT]" >&2
    exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
if [ $# -eq 3 ]; then
    DROGON=$(cd "$2" && pwd)
    TFB=$(cd "$3" && pwd)
else
    DROGON=$OUT/src/drogon
    TFB=$OUT/src/FrameworkBenchmarks
    [ -d "$DROGON" ] || git clone https://github.com/drogonframework/drogon "$DROGON"
    git -C "$DROGON" checkout -q $DROGON_COMMIT
    git -C "$DROGON" submodule update --init trantor
    [ -d "$TFB" ] || git clone --depth 1 https://github.com/TechEmpower/FrameworkBenchmarks "$TFB"
fi
APP=$TFB/frameworks/C++/drogon/drogon_benchmark
if [ ! -f "$APP/CMakeLists.txt" ] || [ ! -f "$DROGON/trantor/CMakeLists.txt" ]; then
    echo "$0: no $APP/CMakeLists.txt or $DROGON/trantor/CMakeLists.txt" >&2
    exit 1
fi
JOBS=$(nproc)

echo "== Drogon $(git -C "$DROGON" rev-parse --short HEAD) into $OUT/prefix"
mkdir -p "$OUT/drogon-build"
cmake -S "$DROGON" -B "$OUT/drogon-build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-flto \
    -DCMAKE_INSTALL_PREFIX="$OUT/prefix" -DBUILD_EXAMPLES=OFF -DBUILD_BROTLI=OFF \
    -DBUILD_C-ARES=OFF -DBUILD_MYSQL=OFF -DBUILD_SQLITE=OFF -DBUILD_REDIS=OFF \
    -DBUILD_YAML_CONFIG=OFF -DBUILD_TESTING=OFF -DLIBPQ_BATCH_MODE=ON > "$OUT/drogon-cmake.log"
grep -q "libpq supports batch mode" "$OUT/drogon-cmake.log" || {
    echo "$0: Drogon's CMake found no libpq pipeline mode (libpq 14 or later is needed)" >&2
    exit 1
}
cmake --build "$OUT/drogon-build" -j "$JOBS" > "$OUT/drogon-build.log"
cmake --install "$OUT/drogon-build" > /dev/null

echo "== TFB's drogon_benchmark into $OUT/bin"
rm -rf "$OUT/app"
cp -r "$APP" "$OUT/app"
# Debian's mimalloc is shared only: link it instead of mimalloc-static.
sed -i -e 's/find_package(mimalloc 1.0 REQUIRED)/find_package(mimalloc REQUIRED)/' \
    -e 's/mimalloc-static/mimalloc/' "$OUT/app/CMakeLists.txt"
PATH=$OUT/prefix/bin:$PATH cmake -S "$OUT/app" -B "$OUT/app-build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS=-flto -DCMAKE_PREFIX_PATH="$OUT/prefix" > "$OUT/app-cmake.log"
PATH=$OUT/prefix/bin:$PATH cmake --build "$OUT/app-build" -j "$JOBS" > "$OUT/app-build.log"
mkdir -p "$OUT/bin"
cp "$OUT/app-build/drogon_benchmark" "$OUT/bin/"
echo "Built $OUT/bin/drogon_benchmark (make bench-tfb ARGS=\"--drogon $OUT/bin/drogon_benchmark\")"
