#!/usr/bin/env python3
"""Render every case of cases.txt with Python Tornado and write expected.json.

    /usr/bin/python3 tests/final/template_oracle/template_oracle.py

Needs Debian's python3-tornado (tools/install-deps.sh build installs it),
which only Debian's /usr/bin/python3 sees. Run it again whenever cases.txt
changes, and commit expected.json: tests/final/template_test.cpp renders the
same cases with final/'s engine and compares byte for byte.

For each case it records the output, or the error: its Python type, its
message, and the template file and line Tornado's generated code names.
"""
import json
import os
import re
import sys

from tornado import template
from tornado.util import ObjectDict

HERE = os.path.dirname(os.path.abspath(__file__))


# The test functions every case's loader has; template_test.cpp defines the
# same ones. Tornado passes bytes to autoescape and apply functions.
def text_of(value):
    return value.decode() if isinstance(value, bytes) else value


def upper(value):
    return text_of(value).upper()


def wrap(value):
    return "[" + text_of(value) + "]"


def add(a, b=10):
    return a + b


def shout(value):
    return text_of(value).upper() + "!"


def fail():
    raise ValueError("boom")


NAMESPACE = {"upper": upper, "wrap": wrap, "add": add, "shout": shout, "fail": fail}


def read_cases(path):
    """[(name, {file: text}, [file order], args, loader options)]"""
    cases = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    current = None
    section = None
    for line in lines:
        if line.startswith("=== "):
            current = {"name": line[4:], "files": {}, "order": [], "args": {}, "loader": {}}
            cases.append(current)
            section = None
            continue
        if current is None:
            continue  # the comments at the top
        if line.startswith("--- "):
            section = line[4:]
            if section not in ("args", "loader"):
                current["order"].append(section)
            current.setdefault("raw", {})[section] = []
            continue
        if section is not None:
            current["raw"][section].append(line)
    for case in cases:
        for section, body in case.pop("raw", {}).items():
            text = "\n".join(body).rstrip("\n") + "\n"
            if section == "args":
                case["args"] = json.loads(text)
            elif section == "loader":
                case["loader"] = json.loads(text)
            else:
                case["files"][section] = text
    return cases


def objects(value):
    """JSON objects as ObjectDicts: dicts whose keys read as attributes, as
    final/'s engine reads a JSON object's keys."""
    if isinstance(value, dict):
        return ObjectDict({key: objects(item) for key, item in value.items()})
    if isinstance(value, list):
        return [objects(item) for item in value]
    return value


LOCATION = re.compile(r"#\s*([^\s:]+):(\d+)")


def location_in_code(code, line_number):
    """The template file and line a line of Tornado's generated code names."""
    lines = code.splitlines()
    if 0 < line_number <= len(lines):
        found = LOCATION.search(lines[line_number - 1])
        if found:
            return found.group(1), int(found.group(2))
    return None, 0


def runtime_location(loader, error):
    """Where in the templates a generate() error happened."""
    frame_file, frame_line = None, 0
    traceback = error.__traceback__
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if filename.endswith(".generated.py"):
            frame_file, frame_line = filename, traceback.tb_lineno
        traceback = traceback.tb_next
    for loaded in loader.templates.values():
        if frame_file == "%s.generated.py" % loaded.name.replace(".", "_"):
            return location_in_code(loaded.code, frame_line)
    return None, 0


def syntax_location(error):
    """Where a SyntaxError in generated code came from: the Template being
    made is in a frame of the traceback, with its code."""
    traceback = error.__traceback__
    while traceback is not None:
        made = traceback.tb_frame.f_locals.get("self")
        if isinstance(made, template.Template) and hasattr(made, "code"):
            return location_in_code(made.code, error.lineno or 0)
        traceback = traceback.tb_next
    return None, 0


def render(case):
    loader = template.DictLoader(case["files"], namespace=NAMESPACE, **case["loader"])
    try:
        page = loader.load(case["order"][0])
    except template.ParseError as error:
        return {"error": "ParseError", "message": error.message, "file": error.filename,
                "line": error.lineno}
    except SyntaxError as error:
        filename, line = syntax_location(error)
        return {"error": "SyntaxError", "message": error.msg, "file": filename, "line": line}
    try:
        return {"output": page.generate(**objects(case["args"])).decode("utf-8")}
    except Exception as error:
        filename, line = runtime_location(loader, error)
        return {"error": type(error).__name__, "message": str(error), "file": filename,
                "line": line}


def main():
    cases = read_cases(os.path.join(HERE, "cases.txt"))
    expected = {case["name"]: render(case) for case in cases}
    if len(expected) != len(cases):
        sys.exit("template_oracle: two cases have the same name")
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    errors = sum(1 for result in expected.values() if "error" in result)
    print("template_oracle: %d cases (%d errors) rendered by Tornado into expected.json"
          % (len(cases), errors))


if __name__ == "__main__":
    main()
