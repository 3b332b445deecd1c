#!/usr/bin/env python3
"""tools/check_trace.py accepts a good trace and names the event at fault in a bad one.

    check_trace_test.py

A trace with every kind of event final/'s tracer writes
(loop_trace.framework_like_trace) must pass; then each rule is broken once,
in a copy of it, and the check must fail (exit 1) with a message that names
the event by its place in traceEvents. A checker that passes everything
would let every trace test pass. Standard library only.
"""
import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loop_trace import TOOLS, framework_like_trace  # noqa: E402

CHECK_TRACE = os.path.join(TOOLS, "check_trace.py")


def index_of(events, name, phase):
    return next(i for i, e in enumerate(events) if e.get("name") == name and e.get("ph") == phase)


class CheckTraceTest(unittest.TestCase):
    def run_check(self, document):
        """(exit status, stderr) of check_trace.py on `document` (an object, or raw text)."""
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(document if isinstance(document, str) else json.dumps(document))
        try:
            result = subprocess.run([sys.executable, CHECK_TRACE, f.name],
                                    capture_output=True, text=True, timeout=60)
        finally:
            os.remove(f.name)
        return result.returncode, result.stderr

    def assert_refused(self, document, *expected):
        status, message = self.run_check(document)
        self.assertEqual(status, 1, message)
        for text in expected:
            self.assertIn(text, message)

    def broken(self, change):
        """A copy of the good trace with `change(events)` applied."""
        document = copy.deepcopy(framework_like_trace())
        change(document["traceEvents"])
        return document

    def test_a_good_trace_passes(self):
        status, message = self.run_check(framework_like_trace())
        self.assertEqual(status, 0, message)

    def test_not_json_or_no_trace_events(self):
        self.assert_refused("{not json", "not a readable JSON file")
        self.assert_refused({"events": []}, "traceEvents")

    def test_an_event_without_ph_pid_tid_or_ts(self):
        for key in ("ph", "pid", "tid", "ts"):
            events = framework_like_trace()["traceEvents"]
            where = index_of(events, "callback", "X")
            document = self.broken(lambda events: events[where].pop(key))
            with self.subTest(key=key):
                self.assert_refused(document, f"event #{where} ", f'"{key}"')

    def test_metadata_needs_no_ts(self):
        events = framework_like_trace()["traceEvents"]
        self.assertEqual(events[0]["ph"], "M")
        self.assertNotIn("ts", events[0])
        self.assertEqual(self.run_check(framework_like_trace())[0], 0)

    def test_a_bar_with_a_negative_duration(self):
        document = self.broken(lambda events: events[index_of(events, "callback", "X")]
                               .update(dur=-1))
        self.assert_refused(document, "dur", "callback")

    def test_bars_out_of_order_on_a_thread(self):
        def swap(events):
            first, second = index_of(events, "callback", "X"), index_of(events, "poll", "X")
            events[first], events[second] = events[second], events[first]
        self.assert_refused(self.broken(swap), "in the order they began")

    def test_a_child_that_ends_after_its_parent(self):
        document = self.broken(lambda events: events[index_of(events, "poll", "X")]
                               .update(dur=5000))
        self.assert_refused(document, "must nest", '"name":"turn"')

    def test_an_async_span_never_ended(self):
        document = self.broken(lambda events: events.remove(
            events[index_of(events, "HTTP request", "e")]))
        self.assert_refused(document, "is never ended", "HTTP request")

    def test_an_end_that_matches_no_begin(self):
        def rename_end(events):
            events[index_of(events, "HTTP request", "e")]["id"] = "0x99"
        self.assert_refused(self.broken(rename_end), "no earlier", "0x99")

    def test_an_end_before_its_begin(self):
        document = self.broken(lambda events: events[index_of(events, "HTTP request", "e")]
                               .update(ts=1.0))
        self.assert_refused(document, "ends before its beginning")

    def test_duration_events_must_pair_on_their_thread(self):
        document = self.broken(lambda events: events.append(
            {"name": "x", "ph": "B", "ts": 3000.0, "pid": 1, "tid": 1}))
        self.assert_refused(document, "is never ended")

    def test_a_counter_with_a_value_that_is_no_number(self):
        document = self.broken(lambda events: events[index_of(events, "queued callbacks", "C")]
                               .update(args={"value": "two"}))
        self.assert_refused(document, "counter", "queued callbacks")


if __name__ == "__main__":
    unittest.main(verbosity=2)
