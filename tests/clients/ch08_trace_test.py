#!/usr/bin/env python3
"""Waiting and blocking, seen through chapter 08's loop trace (TORNADO_TRACE).

    ch08_trace_test.py --server build/bin/ch08_app [--trace PATH] [--pictures DIR]

ch08_app runs on chapter 03's IOLoop, so TORNADO_TRACE=PATH traces it too.
The scenario: GET /sleep?ms=200 alone; then GET /blocking-wrong?ms=300,
and while it blocks, three GET /sleep?ms=50 at once; SIGTERM stops the
app, whose loop writes the trace. Then the trace must keep the format's
rules (tools/check_trace.py) and show the lesson:

  - /sleep waits without blocking: while its coroutine is suspended the
    loop sleeps in epoll_wait, one poll of most of the 200 ms, and a
    timeout (sleep's timer) resumes it;
  - /blocking-wrong blocks: one bar of at least 300 ms on the loop's
    thread, and nothing else runs while it lasts, no handler, no
    callback, no timeout;
  - the three /sleep requests were sent while that bar lasted, and each
    was answered no sooner than 50 ms after it ended: their handlers
    could not even start their sleeps until the loop was free. A run on a
    busy machine that sent them outside the block is made again (at most
    three runs in all).

CTest runs it as ch08.loop_trace.blocking_wrong; `make trace-pictures`
runs it with --pictures chapters/08-coroutines/img, which draws the trace
into 08-trace-blocking-wrong.png (tools/trace_plot.py, needing
/usr/bin/python3 with matplotlib). Standard library only.
"""
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loop_trace import plot, run_trace_test, with_client_spans  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

SLEEP_MS = 200
BLOCK_MS = 300
WAITING_SLEEP_MS = 50
WAITERS = 3


def timed_get(port, path, results, key):
    """GET path; results[key] = (status, body, when sent, when answered)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        sent = time.monotonic()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode()
        results[key] = (response.status, body, sent, time.monotonic())
    finally:
        connection.close()


def in_thread(port, path, results, key):
    thread = threading.Thread(target=timed_get, args=(port, path, results, key))
    thread.start()
    return thread


def run_scenario(app, trace_path):
    results = {}
    with ServerProcess(app, env={"TORNADO_TRACE": trace_path},
                       stderr=open(os.devnull, "w")) as process:
        time.sleep(0.05)
        timed_get(process.port, f"/sleep?ms={SLEEP_MS}", results, "sleep")
        time.sleep(0.05)
        threads = [in_thread(process.port, f"/blocking-wrong?ms={BLOCK_MS}", results, "block")]
        time.sleep(BLOCK_MS / 3000)  # the loop is blocked by then
        threads += [in_thread(process.port, f"/sleep?ms={WAITING_SLEEP_MS}", results, n)
                    for n in range(WAITERS)]
        for thread in threads:
            thread.join(15)
        time.sleep(0.05)
        process.stop()
        results["exit status"] = process.process.returncode
    return results


def check_waiting(trace, results, checks):
    status, body, sent, answered = results["sleep"]
    checks.check((status, body) == (200, f"slept {SLEEP_MS}"), f"/sleep?ms={SLEEP_MS} answered")
    long_polls = [poll for poll in trace.bars_named("poll", sent, answered)
                  if poll.duration >= SLEEP_MS / 1000 * 0.75]
    checks.check(len(long_polls) == 1, "while the coroutine slept, the loop slept in one poll of "
                 f"most of {SLEEP_MS} ms", repr(trace.bars_named("poll", sent, answered)))
    timeouts = trace.bars_named("timeout", sent + SLEEP_MS / 1000, answered)
    checks.check(timeouts, f"a timeout ran {SLEEP_MS} ms after the request: sleep's timer")


def check_blocking(trace, results, checks):
    status, body, sent, answered = results["block"]
    checks.check((status, body) == (200, f"done {BLOCK_MS}"), f"/blocking-wrong?ms={BLOCK_MS} "
                 "answered")
    block = max(trace.work(), key=lambda bar: bar.duration)
    # The bar may end a moment after the answer came: the handler wrote
    # it, then lost its core before the bar closed. Its blocking part,
    # BLOCK_MS from its start, came before the answer.
    checks.check(block.duration >= BLOCK_MS / 1000 and sent <= block.start and
                 block.start + BLOCK_MS / 1000 <= answered, f"the loop ran one bar of at least {BLOCK_MS} "
                 "ms, between the request and its answer", repr(block))
    checks.check(trace.turn_of(block) is not None, "... inside a turn", repr(block))
    inside = [bar for bar in trace.bars if block.start < bar.start < block.end]
    checks.check(not inside, "nothing else ran on the loop while it lasted", repr(inside))

    for waiter in range(WAITERS):
        status, body, sent, answered = results[waiter]
        checks.check((status, body) == (200, f"slept {WAITING_SLEEP_MS}"),
                     f"/sleep?ms={WAITING_SLEEP_MS} #{waiter + 1} answered")
        checks.check(block.start < sent < block.end, "... it was sent while the loop was "
                     "blocked (if not, this machine was too slow for the test's timing)",
                     f"sent at {sent:.6f}, {block!r}")
        late = answered - block.end
        checks.check(late >= WAITING_SLEEP_MS / 1000 - 0.0005,
                     f"... and answered {late * 1000:.1f} ms after the block ended: its "
                     f"{WAITING_SLEEP_MS} ms sleep began only once the loop was free")


def waiters_missed_the_block(trace, results):
    """Why this run cannot show the lesson, or None: a /sleep meant for the
    block was sent before it began (the block's request was slow to reach
    a busy loop) or after it ended."""
    work = trace.work()
    if not work or any(waiter not in results for waiter in range(WAITERS)):
        return None  # the checks say what went wrong
    block = max(work, key=lambda bar: bar.duration)
    for waiter in range(WAITERS):
        sent = results[waiter][2]
        if not block.start < sent < block.end:
            return (f"/sleep?ms={WAITING_SLEEP_MS} #{waiter + 1} was sent at {sent:.6f}, "
                    f"outside the block {block!r}")
    return None


def client_spans(results):
    """The requests, for the picture: (id, name, sent, answered)."""
    names = {"sleep": f"/sleep?ms={SLEEP_MS}", "block": f"/blocking-wrong?ms={BLOCK_MS}"}
    names.update({n: f"/sleep?ms={WAITING_SLEEP_MS}" for n in range(WAITERS)})
    return [(number, names[key], results[key][2], results[key][3])
            for number, key in enumerate(names, start=1)]


def check_lesson(trace, results, checks):
    check_waiting(trace, results, checks)
    check_blocking(trace, results, checks)


def draw_picture(trace, results, folder, scratch):
    with_clients = os.path.join(scratch, "ch08_trace_with_clients.json")
    with_client_spans(trace.path, client_spans(results), with_clients)
    plot(with_clients, os.path.join(folder, "08-trace-blocking-wrong.png"),
         "--title", f"ch08_app traced: /sleep?ms={SLEEP_MS}, then "
         f"/blocking-wrong?ms={BLOCK_MS}; three /sleep?ms={WAITING_SLEEP_MS} sent "
         "meanwhile")


def main():
    return run_trace_test(__doc__, "ch08_app", run_scenario, check_lesson, draw_picture,
                          timing_missed=waiters_missed_the_block)


if __name__ == "__main__":
    sys.exit(main())
