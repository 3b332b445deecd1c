#!/usr/bin/env python3
"""The layer check catches an include that runs back up (final.layers_catch):
tools/check_layers.py over a copy of final/, first as it is (it passes),
then with one wrong include planted at a time, each of which it must
name: the framework including an add-on, an add-on including a layer its
README does not allow, an example including a file of final/src.

    python3 tests/final/check_layers_test.py

Standard library only; exits 0 when every plant is caught.
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "check_layers.py"

# (file, the include planted at its top, what the check must say)
PLANTS = [
    ("final/src/core/ioloop.cpp", '#include "tornado/postgres.h"',
     "core/ includes tornado/postgres.h (postgres/)"),
    ("final/src/http/httpserver.cpp", '#include "tornado/http2.h"',
     "http/ includes tornado/http2.h (http2/)"),
    ("final/postgres/src/pool.cpp", '#include "tornado/web.h"',
     "postgres/ includes tornado/web.h (web/)"),
    ("final/redis/src/redis.cpp", '#include "net/openssl_error.h"',
     "redis/ includes net/openssl_error.h (net/)"),
    ("final/examples/hello/main.cpp", '#include "core/text.h"',
     "an example includes core/text.h"),
]


def copy_checkout(into):
    """final/ as it is, and tests/final/'s file names (the check looks
    for each source's test file by name)."""
    shutil.copytree(ROOT / "final", into / "final",
                    ignore=shutil.ignore_patterns("*.png", "*.jpg", "*.pdf", "__pycache__"))
    (into / "tests" / "final").mkdir(parents=True)
    for test in (ROOT / "tests" / "final").glob("*.cpp"):
        (into / "tests" / "final" / test.name).touch()


def run_check(root):
    run = subprocess.run([sys.executable, str(CHECK), "--root", str(root)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    return run.returncode, run.stdout


def main():
    failures = []
    with tempfile.TemporaryDirectory() as temporary:
        root = pathlib.Path(temporary)
        copy_checkout(root)
        code, output = run_check(root)
        if code != 0:
            failures.append("the unchanged copy fails the check:\n" + output)
        for name, include, expected in PLANTS:
            path = root / name
            original = path.read_text()
            path.write_text(include + "\n" + original)
            code, output = run_check(root)
            path.write_text(original)
            if code == 0 or expected not in output:
                failures.append("%s with %s: exit %d, and the output does not say %r:\n%s" % (
                    name, include, code, expected, output))
            else:
                print("caught: %s in %s" % (include, name))
    for failure in failures:
        print("FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
