#!/usr/bin/env python3
"""An exercise file with its first tasks done: the reference's bodies in place
of the cuts of tasks 1 to N, the cuts of the later tasks left as handed out.

    tasks_done_upto.py --exercise FILE --reference FILE --task N --out FILE

make test builds each chapter's tests against these files, task by task,
and runs task N's tests (chNN.exercise.taskN_needs_only_the_tasks_before_it):
a learner who works in order, as the exercises say, must be able to pass
task N with tasks 1 to N done and nothing after. A test of task N that
needs a later task's function (it closes a stream, and close_because() is
task 4's) fails there, and is moved to that later task.

A cut is a function definition whose body throws
std::logic_error("TODO(task K): ..."). Definitions are found by the
layout .clang-format gives the course's .cpp files: the signature starts at
column 0 and ends with "{", the body is indented, and "}" at column 0 ends
it. The reference's definition with the same signature (blanks aside)
replaces the cut, signature and all (compared without the [[maybe_unused]]
an exercise adds to what a cut no longer uses, nor comments). A cut with
no such twin is an error.
Standard library only.
"""
import argparse
import re
import sys

CUT = re.compile(r'throw std::logic_error\("TODO\(task (\d+)\)')


def definitions(lines):
    """(first line, last line, signature) of each definition at column 0."""
    found = []
    index = 0
    while index < len(lines):
        line = lines[index]
        starts = line[:1] not in ("", " ", "\t", "#", "/", "}") and not line.startswith("namespace")
        if not starts:
            index += 1
            continue
        # The signature: from here to the line that opens the body.
        def code(number):
            return lines[number].split("//")[0].rstrip()
        end = index
        while end < len(lines) and not code(end).endswith("{") and not code(end).endswith(";"):
            end += 1
        if end >= len(lines) or code(end).endswith(";"):
            index = end + 1
            continue
        close = end + 1
        while close < len(lines) and lines[close].rstrip() != "}":
            close += 1
        # A cut marks the parameters it no longer uses [[maybe_unused]].
        text = " ".join(line.split("//")[0] for line in lines[index:end + 1])
        text = re.sub(r"\[\[maybe_unused\]\]\s*", "", text)
        signature = " ".join(text.split())
        found.append((index, close, signature))
        index = close + 1
    return found


def name_of(signature):
    """What a definition defines: its signature up to the parameters
    ("void RequestHandler::write_error"), which a cut keeps as it is even
    where it leaves a parameter unnamed."""
    return signature.split("(")[0].strip()


def twin_of(signature, reference_definitions):
    """(first, last) of the reference's definition of the same function: the
    one with the same name, or among overloads the same signature."""
    same_name = [(a, b) for a, b, other in reference_definitions if name_of(other) == name_of(signature)]
    if len(same_name) == 1:
        return same_name[0]
    same = [(a, b) for a, b, other in reference_definitions if other == signature]
    if len(same) != 1:
        raise SystemExit(f"tasks_done_upto: no single definition of `{signature}` in the reference")
    return same[0]


def splice(exercise, reference, task):
    """The exercise's text with the cuts of tasks 1..task replaced.

    The reference's helpers that the exercise leaves out (they serve only
    the cut functions, which the learner may write without them) come too,
    in an anonymous namespace before the first function put back."""
    lines = exercise.split("\n")
    reference_lines = reference.split("\n")
    reference_definitions = definitions(reference_lines)
    present = {name_of(signature) for _, _, signature in definitions(lines)}
    first_put_back = None
    for first, last, signature in reversed(definitions(lines)):
        body = "\n".join(lines[first:last + 1])
        cut = CUT.search(body)
        if cut is None or int(cut.group(1)) > task:
            continue
        twin_first, twin_last = twin_of(signature, reference_definitions)
        lines[first:last + 1] = reference_lines[twin_first:twin_last + 1]
        first_put_back = first
    # Free functions only: a member function is defined outside any
    # anonymous namespace, and an exercise never leaves one out.
    helpers = [reference_lines[a:b + 1] for a, b, signature in reference_definitions
               if name_of(signature) not in present and "::" not in name_of(signature)]
    if first_put_back is not None and helpers:
        block = ["namespace {"] + [line for helper in helpers for line in helper + [""]]
        lines[first_put_back:first_put_back] = block + ["}  // namespace", ""]
    return "\n".join(lines)


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
