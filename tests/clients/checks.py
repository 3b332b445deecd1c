"""What a client test script raises when a check fails, and the two checks
every such script uses. Standard library only.

    from checks import CheckFailed, expect, expect_equal
    expect_equal(response.status, 200, "GET /")   # CheckFailed: GET /: expected 200, got 404
"""


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_equal(actual, expected, what):
    if actual != expected:
        raise CheckFailed("%s: expected %r, got %r" % (what, expected, actual))
