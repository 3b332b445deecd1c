"""What a client test script raises when a check fails, the two checks
every such script uses, and the runner that prints a check's line.
Standard library only.

    from checks import CheckFailed, expect, expect_equal
    expect_equal(response.status, 200, "GET /")   # CheckFailed: GET /: expected 200, got 404
"""

import time
import traceback


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_equal(actual, expected, what):
    if actual != expected:
        raise CheckFailed("%s: expected %r, got %r" % (what, expected, actual))


def run_check(name, function, argument, suffix=""):
    """Runs function(argument) and prints its line: "PASS  name (0.12 s)",
    with " [note]" if the check returned a note and then `suffix`, or
    "FAIL  name: why" (the CheckFailed's message, or the last line of any
    other exception's traceback). Returns "PASS" or "FAIL"."""
    started = time.monotonic()
    try:
        note = function(argument)
    except CheckFailed as failure:
        print("FAIL  %s: %s" % (name, failure))
        return "FAIL"
    except Exception:
        detail = traceback.format_exc().strip().splitlines()
        print("FAIL  %s: %s" % (name, detail[-1]))
        return "FAIL"
    print("PASS  %s (%.2f s)%s%s" % (name, time.monotonic() - started,
                                     " [%s]" % note if note else "", suffix))
    return "PASS"
