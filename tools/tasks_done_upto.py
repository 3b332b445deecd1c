#!/usr/bin/env python3
"""An exercise file with its first tasks done: the reference's code in place
of the cuts of tasks 1 to N, the cuts of the later tasks left as handed out.

    tasks_done_upto.py --exercise FILE --reference FILE --task N --out FILE

make test builds each chapter's tests against these files, task by task,
and runs task N's tests (chNN.exercise.taskN_needs_only_the_tasks_before_it):
a learner who works in order, as the exercises say, must be able to pass
task N with tasks 1 to N done and nothing after. A test of task N that
needs a later task's function (it closes a stream, and close_because() is
task 4's) fails there, and is moved to that later task.

The exercise and the reference are compared line by line (difflib): an
exercise is the reference with some bodies cut, each cut marked
"TODO(task K)". A stretch where the two differ takes the reference's
lines when the exercise's side carries the marks of tasks 1 to N only,
and keeps the exercise's otherwise (a later task's cut, a comment that
differs). A stretch that only the reference has (a helper the exercise
leaves out, since the learner may write the cut functions without it)
comes too. The same rule serves .cpp files and headers, whose cuts are
member functions inside class bodies. A stretch that mixes the marks of
a task put back and one left out is an error: the cuts are too close for
a line comparison to tell apart.
Standard library only.
"""
import argparse
import difflib
import re
import sys

MARK = re.compile(r"TODO\(task (\d+)\)")


def tasks_marked(lines):
    return {int(task) for line in lines for task in MARK.findall(line)}


def splice(exercise, reference, task):
    """The exercise's text with the cuts of tasks 1..task replaced."""
    lines = exercise.split("\n")
    reference_lines = reference.split("\n")
    matcher = difflib.SequenceMatcher(None, lines, reference_lines, autojunk=False)
    out = []
    for tag, first, last, ref_first, ref_last in matcher.get_opcodes():
        ours, theirs = lines[first:last], reference_lines[ref_first:ref_last]
        marked = tasks_marked(ours)
        if tag == "equal":
            out += ours
        elif not ours:  # only the reference has it
            out += theirs
        elif marked and max(marked) <= task:
            out += theirs
        elif marked and min(marked) <= task:
            raise SystemExit(f"tasks_done_upto: lines {first + 1}-{last} mix the cuts of tasks "
                             f"{sorted(marked)}: put a line the reference shares between them")
        else:
            out += ours
    left = [n for n in tasks_marked(out) if n <= task]
    if left:
        raise SystemExit(f"tasks_done_upto: the cut of task {left[0]} is still there")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--task", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.exercise, encoding="utf-8") as f:
        exercise = f.read()
    with open(args.reference, encoding="utf-8") as f:
        reference = f.read()
    text = splice(exercise, reference, args.task)
    # Written only when it changed, so that nothing is compiled again for nothing.
    try:
        with open(args.out, encoding="utf-8") as f:
            if f.read() == text:
                return 0
    except OSError:
        pass
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
