#!/usr/bin/env python3
"""make lint, and the test course.lint: clang-tidy over final/'s coroutines.

    tools/lint.py [BUILD]      BUILD: a configured build folder (default: build)

Runs clang-tidy 22 with the checks final/.clang-tidy names (today one:
cppcoreguidelines-avoid-reference-coroutine-parameters, the rule tornado/gen.h
states: a coroutine's reference parameter may dangle after its first
co_await) over every translation unit of final/ that holds a coroutine: the
library, the Redis add-on and the examples, each compiled with the flags the
build uses (BUILD/compile_commands.json; the library's unity batches as they
are). A finding fails it; a place where a reference is safe says why in a
comment beside a NOLINT. First it lints a coroutine that takes a reference,
which must be found: a clang-tidy that no longer runs the check fails the
lint instead of passing it.

Exits 0 when clean, 1 with the findings, 77 (CTest's skip) when clang-tidy 22
is not installed (tools/install-deps.sh clang installs it).
"""

import concurrent.futures
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Debian 12's newest: it spends 28% less CPU than clang-tidy 16
# on the same units (tests/bench/README.md, "The tests").
CLANG_TIDY = "clang-tidy-22"
COROUTINE = re.compile(r"\bco_(await|return|yield)\b")
UNITY_INCLUDE = re.compile(r'^#include "([^"]+)"', re.MULTILINE)
CONFIG = f"--config-file={ROOT / 'final' / '.clang-tidy'}"


def sources_of(unit):
    """The files a translation unit compiles: a unity batch's included files, or itself."""
    if "/Unity/unity_" in unit:
        return [pathlib.Path(p) for p in UNITY_INCLUDE.findall(pathlib.Path(unit).read_text())]
    return [pathlib.Path(unit)]


def final_units(build):
    """Translation units of final/ (not its tests) that hold a coroutine."""
    database = json.loads((build / "compile_commands.json").read_text())
    units = []
    for entry in database:
        sources = sources_of(entry["file"])
        inside = [s for s in sources if str(s).startswith(str(ROOT / "final") + "/")]
        if inside and any(COROUTINE.search(s.read_text()) for s in inside):
            units.append(entry["file"])
    return sorted(set(units))


# A coroutine that takes a reference: the check must find it.
PROBE = """#include <coroutine>
struct Task {
    struct promise_type {
        Task get_return_object() { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() {}
        void unhandled_exception() {}
    };
};
Task dangles(const int& value) {
    co_await std::suspend_never{};
    (void)value;
}
"""


def probe_missed(build):
    """What clang-tidy said if it missed the probe's reference parameter;
    None when it found it."""
    probe = build / "lint_probe.cpp"
    probe.write_text(PROBE)
    command = [CLANG_TIDY, "--quiet", CONFIG, str(probe), "--", "-std=c++20"]
    done = subprocess.run(command, capture_output=True, text=True)
    if "cppcoreguidelines-avoid-reference-coroutine-parameters" in done.stdout:
        return None
    return done.stdout + done.stderr


def tidy(build, unit):
    command = [CLANG_TIDY, "-p", str(build), "--quiet", CONFIG,
               # Only the checks chosen: the compiler's own warnings are the
               # builds' business (g++ 12 and clang 14, both with -Werror), and
               # the flags here are g++'s, some unknown to clang.
               "--extra-arg=-w", unit]
    # clang-tidy's malloc asks for huge pages, which a kernel in THP's
    # "madvise" mode gives only on request: the demo app's unit took 48,000
    # page faults instead of 155,000 and 13% less time (the build's
    # compilers ask too: cmake/Course.cmake).
    environment = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.hugetlb=1")
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    findings = [line for line in done.stdout.splitlines()
                if re.search(r"(warning|error):", line)]
    return unit, done.returncode, findings, done.stderr


def main():
    build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
    if shutil.which(CLANG_TIDY) is None:
        print(f"lint: {CLANG_TIDY} not found (tools/install-deps.sh clang installs it)")
        return 77
    if not (build / "compile_commands.json").exists():
        print(f"lint: {build}/compile_commands.json not found: configure the build first")
        return 2
    missed = probe_missed(build)
    if missed is not None:
        print(f"lint: {CLANG_TIDY} did not find the reference parameter of {build}/lint_probe.cpp,"
              f" so it would find none in final/ either:\n{missed}")
        return 1
    units = final_units(build)
    if not units:
        print("lint: no translation unit of final/ found in the build's compile_commands.json")
        return 2
    problems = 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for unit, code, findings, stderr in pool.map(lambda u: tidy(build, u), units):
            for line in findings:
                print(line.replace(str(ROOT) + "/", ""))
            if code != 0 or findings:
                problems += 1
                if not findings:
                    print(f"lint: {CLANG_TIDY} failed on {unit}:\n{stderr}")
    if problems:
        print(f"lint: findings in {problems} of {len(units)} translation units "
              "(fix them, or say beside a NOLINT why the reference cannot dangle)")
        return 1
    print(f"lint: {len(units)} translation units of final/ with coroutines, no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
