#!/usr/bin/env python3
"""How much of Tornado 6.2's public API final/ has: the parity table.

    python3 final/parity/check_parity.py                  # check; print the table
    python3 final/parity/check_parity.py --missing        # also list what is not there yet
    python3 final/parity/check_parity.py --suggest        # entries for unlisted names, guessed
    python3 final/parity/check_parity.py --write-readme   # put the table in final/README.md

Tornado's side is read from its own source (Debian's python3-tornado 6.2):
every public function and class of every module, and every public method
and property of those classes. Public means a name without a leading
underscore, defined in the module itself (not imported), outside
`if TYPE_CHECKING:` blocks.

Our side is `tornado_to_cpp.txt` beside this script: one entry per Tornado
name, under a `[tornado.MODULE]` heading, in one of three forms:

    NAME  HEADER  CPP_NAME     its C++ twin: #include <tornado/HEADER>, tornado::CPP_NAME
    NAME  n/a     REASON       not applicable in C++, and why
    NAME  missing [NOTE]       not there yet

A twin is checked against the headers: clang (`-Xclang -ast-list`) lists
every declaration the headers make, and tornado::CPP_NAME must be one of
them, with its last part written in HEADER itself (so that the entry names
the header a user includes for it). The check fails when a Tornado name has
no entry, when an entry names no Tornado name, when a twin is not declared,
or when final/README.md's table is not the one this script writes.

The percentage per module counts the names that apply to C++: twins ÷
(twins + missing). Exit status: 0 when everything checks, 1 when something
does not, 77 when Tornado 6.2's source or clang is missing (SKIP under CTest).
Standard library only.
"""
import argparse
import ast
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FINAL = os.path.dirname(HERE)
INCLUDE = os.path.join(FINAL, "include")
# The add-ons that stand for a Tornado module have their headers beside
# the framework's (tornado.curl_httpclient: final/curl/).
INCLUDES = [INCLUDE, os.path.join(FINAL, "curl", "include")]
MAPPING = os.path.join(HERE, "tornado_to_cpp.txt")
README = os.path.join(FINAL, "README.md")
TORNADO_VERSION = "6.2"
# Where Debian's python3-tornado puts its source; /usr/bin/python3 says so
# too, but another python3 first on PATH would not see it.
TORNADO_DIRECTORIES = ["/usr/lib/python3/dist-packages/tornado"]
TABLE_START = "<!-- parity table: written by final/parity/check_parity.py --write-readme -->"
TABLE_END = "<!-- end of the parity table -->"
EXIT_SKIPPED = 77
NOT_APPLICABLE = "n/a"
MISSING = "missing"


# --- Tornado's public names ---------------------------------------------------

def find_tornado():
    """Tornado 6.2's package directory, or None."""
    for directory in TORNADO_DIRECTORIES:
        init = os.path.join(directory, "__init__.py")
        if os.path.exists(init):
            with open(init) as f:
                found = re.search(r'^version = "([^"]+)"', f.read(), re.M)
            if found and found.group(1) == TORNADO_VERSION:
                return directory
    return None


def module_files(tornado_dir):
    """{"tornado.web": path, ...}: every module but the package's own
    __init__ and its generated locale data."""
    paths = glob.glob(os.path.join(tornado_dir, "*.py"))
    paths += glob.glob(os.path.join(tornado_dir, "platform", "*.py"))
    modules = {}
    for path in paths:
        relative = os.path.relpath(path, os.path.dirname(tornado_dir))[:-len(".py")]
        name = relative.replace(os.sep, ".")
        if not name.endswith("__init__") and not name.endswith("_locale_data"):
            modules[name] = path
    return modules


def is_public(name):
    return not name.startswith("_")


def is_type_checking(test):
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def definitions(body):
    """The functions and classes a module or class body defines, looking
    into if/else and try blocks (Tornado defines some per platform or
    Python version) but not into TYPE_CHECKING ones."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node
        elif isinstance(node, ast.If) and not is_type_checking(node.test):
            yield from definitions(node.body)
            yield from definitions(node.orelse)
        elif isinstance(node, ast.Try):
            for block in [node.body, node.orelse, node.finalbody] + [h.body for h in node.handlers]:
                yield from definitions(block)


def parse_module(path):
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def class_bases(path):
    """{class: [base class names]} of a module's classes (as written: `Base`
    or `module.Base`, the last part kept)."""
    bases = {}
    for node in definitions(parse_module(path).body):
        if isinstance(node, ast.ClassDef):
            bases[node.name] = [base.id if isinstance(base, ast.Name) else base.attr
                                for base in node.bases if isinstance(base, (ast.Name, ast.Attribute))]
    return bases


def public_names(path):
    """The module's public names in source order, each once: "function",
    "Class", "Class.method" (a property and its setter are one name, and so
    are a function's typing.overload variants)."""
    tree = parse_module(path)
    names = []
    for node in definitions(tree.body):
        if not is_public(node.name):
            continue
        names.append(node.name)
        if isinstance(node, ast.ClassDef):
            names += ["%s.%s" % (node.name, member.name) for member in definitions(node.body)
                      if not isinstance(member, ast.ClassDef) and is_public(member.name)]
    return list(dict.fromkeys(names))


def tornado_api(tornado_dir):
    """{module: [names]} for every module, sorted by module."""
    return {module: public_names(path) for module, path in sorted(module_files(tornado_dir).items())}


# --- our mapping --------------------------------------------------------------

class Entry:
    def __init__(self, module, name, kind, detail, where):
        self.module = module
        self.name = name
        self.kind = kind          # "twin", NOT_APPLICABLE or MISSING
        self.header = ""
        self.cpp_name = ""
        self.detail = detail      # the reason, the note, or "HEADER CPP_NAME"
        self.where = where        # "FILE:LINE"
        if kind == "twin":
            self.header, self.cpp_name = detail.split()


def parse_mapping(text, path=MAPPING):
    """[Entry], [problem]: the mapping file's entries and what is wrong with
    its lines."""
    entries, problems = [], []
    module = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        heading = re.fullmatch(r"\[(tornado(?:\.\w+)+)\]", line)
        if heading:
            module = heading.group(1)
            continue
        parts = line.split(None, 2)
        where = "%s:%d" % (os.path.relpath(path), number)
        if module is None:
            problems.append("%s: an entry before the first [tornado.MODULE] heading" % where)
        elif len(parts) < 2:
            problems.append("%s: %r is a name with nothing after it" % (where, line))
        elif parts[1] == NOT_APPLICABLE:
            if len(parts) < 3:
                problems.append("%s: %s is n/a without a reason" % (where, parts[0]))
            else:
                entries.append(Entry(module, parts[0], NOT_APPLICABLE, parts[2], where))
        elif parts[1] == MISSING:
            entries.append(Entry(module, parts[0], MISSING, parts[2] if len(parts) > 2 else "",
                                 where))
        elif len(parts) == 3 and parts[1].endswith(".h") and " " not in parts[2]:
            entries.append(Entry(module, parts[0], "twin", "%s %s" % (parts[1], parts[2]), where))
        else:
            problems.append("%s: %r is not NAME HEADER CPP_NAME, NAME n/a REASON or "
                            "NAME missing [NOTE]" % (where, line))
    return entries, problems


# --- what the headers declare ----------------------------------------------------

def find_clang():
    for name in ("clang++-14", "clang++"):
        found = shutil.which(name)
        if found:
            return found
    return None


def declared_names(clang):
    """Every qualified name the public headers declare (clang's -ast-list of
    one file that includes them all)."""
    headers = sorted(os.path.basename(path) for folder in INCLUDES
                     for path in glob.glob(os.path.join(folder, "tornado", "*.h")))
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as source:
        source.write("".join("#include <tornado/%s>\n" % header for header in headers))
    include_flags = [flag for folder in INCLUDES for flag in ("-I", folder)]
    try:
        done = subprocess.run([clang, "-std=c++20", "-fsyntax-only", "-Xclang", "-ast-list"] +
                              include_flags + [source.name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.unlink(source.name)
    if done.returncode != 0:
        raise RuntimeError("clang could not read the headers:\n%s" % done.stderr.decode()[-2000:])
    return set(done.stdout.decode().split("\n"))


def header_words(header):
    """The identifiers written in final/include/tornado/HEADER (or an
    add-on's), or None."""
    for folder in INCLUDES:
        path = os.path.join(folder, "tornado", header)
        if os.path.exists(path):
            with open(path) as f:
                return set(re.findall(r"[A-Za-z_]\w*", f.read()))
    return None


def twin_problem(entry, declared, words_of):
    """Why a twin entry does not name something its header declares, or ""."""
    words = words_of(entry.header)
    if words is None:
        return "%s: %s: no header final/include/tornado/%s" % (entry.where, entry.name, entry.header)
    qualified = "tornado::" + entry.cpp_name
    if qualified not in declared:
        return "%s: %s: the headers declare no %s" % (entry.where, entry.name, qualified)
    # The leaf as the header spells it: "operator()" is written "operator",
    # a template's arguments are not part of its name.
    leaf = re.sub(r"<.*", "", entry.cpp_name.split("::")[-1])
    if leaf.startswith("operator"):
        leaf = "operator"
    if leaf not in words:
        return "%s: %s: %s is declared, but not in %s" % (entry.where, entry.name, qualified,
                                                         entry.header)
    return ""


# --- checking -------------------------------------------------------------------

def check(api, entries, declared, mapping_path=MAPPING):
    """[problem]: names without an entry, entries without a name, twins the
    headers do not declare, entries given twice."""
    problems = []
    known = {(module, name) for module, names in api.items() for name in names}
    seen = set()
    cache = {}

    def words_of(header):
        if header not in cache:
            cache[header] = header_words(header)
        return cache[header]

    for entry in entries:
        key = (entry.module, entry.name)
        if key in seen:
            problems.append("%s: %s.%s has a second entry" % (entry.where, entry.module, entry.name))
        seen.add(key)
        if key not in known:
            problems.append("%s: %s.%s is not a public name of Tornado %s" % (
                entry.where, entry.module, entry.name, TORNADO_VERSION))
        elif entry.kind == "twin":
            problem = twin_problem(entry, declared, words_of)
            if problem:
                problems.append(problem)
    unlisted = [(module, name) for module, names in api.items() for name in names
                if (module, name) not in seen]
    for module, name in unlisted:
        problems.append("%s.%s has no entry in %s" % (module, name, os.path.relpath(mapping_path)))
    return problems


def counts(api, entries):
    """[(module, names, twins, n/a, missing)] per module, in api's order."""
    by_module = {}
    for entry in entries:
        by_module.setdefault(entry.module, []).append(entry.kind)
    rows = []
    for module, names in api.items():
        kinds = by_module.get(module, [])
        rows.append((module, len(names), kinds.count("twin"), kinds.count(NOT_APPLICABLE),
                     kinds.count(MISSING)))
    return rows


def percent(twins, missing):
    applicable = twins + missing
    return "%.0f%%" % (100.0 * twins / applicable) if applicable else "-"


def table(rows):
    """The markdown table: one row per module and the total."""
    lines = ["| Tornado module | public names | C++ twins | not applicable | missing | mapped |",
             "|---|---:|---:|---:|---:|---:|"]
    for module, names, twins, not_applicable, missing in rows:
        lines.append("| `%s` | %d | %d | %d | %d | %s |" % (
            module, names, twins, not_applicable, missing, percent(twins, missing)))
    total = [sum(row[i] for row in rows) for i in range(1, 5)]
    lines.append("| **all** | %d | %d | %d | %d | **%s** |" % (
        total[0], total[1], total[2], total[3], percent(total[1], total[3])))
    return "\n".join(lines)


def readme_block(rows):
    return "%s\n%s\n%s" % (TABLE_START, table(rows), TABLE_END)


def readme_problem(block):
    """Why final/README.md's table is not `block`, or ""."""
    with open(README) as f:
        text = f.read()
    found = re.search(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), text, re.S)
    if not found:
        return "final/README.md has no parity table (between %r and %r)" % (TABLE_START, TABLE_END)
    if found.group(0) != block:
        return ("final/README.md's parity table is out of date: "
                "python3 final/parity/check_parity.py --write-readme")
    return ""


def write_readme(block):
    with open(README) as f:
        text = f.read()
    pattern = re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END)
    if not re.search(pattern, text, re.S):
        raise SystemExit("final/README.md has no %r ... %r block to replace" % (TABLE_START, TABLE_END))
    with open(README, "w") as f:
        f.write(re.sub(pattern, lambda _: block, text, count=1, flags=re.S))


# --- suggestions ---------------------------------------------------------------------

# Tornado classes whose C++ twin has another name.
CLASS_TWINS = {"BaseIOStream": "IOStream"}


def candidate_twins(module, name, bases):
    """C++ names, best first, a Tornado name's twin may have: the same name
    with :: for the dot, in the module's namespace (testing::), under the
    class's twin, or under a base class (a method C++ inherits)."""
    parts = name.split(".")
    classes = [parts[0]]
    while len(parts) == 2 and bases.get(classes[-1]):
        classes.append(bases[classes[-1]][0])
    candidates = []
    for cls in classes:
        for spelled in (cls, CLASS_TWINS.get(cls)):
            if spelled:
                qualified = "::".join([spelled] + parts[1:])
                candidates += [qualified, module.split(".")[-1] + "::" + qualified]
    return candidates


def suggestions(api, entries, declared, tornado_dir):
    """Entry lines for the names that have none: a twin when one of
    candidate_twins() is declared, else missing."""
    listed = {(entry.module, entry.name) for entry in entries}
    files = module_files(tornado_dir)
    lines = []
    for module, names in api.items():
        todo = [name for name in names if (module, name) not in listed]
        if not todo:
            continue
        bases = class_bases(files[module])
        lines.append("[%s]" % module)
        for name in todo:
            header = module.split(".")[-1] + ".h"
            found = [c for c in candidate_twins(module, name, bases) if "tornado::" + c in declared]
            if found:
                lines.append("%-40s %-14s %s" % (name, header, found[0]))
            else:
                lines.append("%-40s %s" % (name, MISSING))
    return lines


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--missing", action="store_true", help="list the names not there yet")
    parser.add_argument("--suggest", action="store_true",
                        help="print guessed entries for the names that have none")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table into final/README.md")
    parser.add_argument("--mapping", default=MAPPING,
                        help="the mapping file (default: %(default)s)")
    parser.add_argument("--only", type=lambda text: text.split(","),
                        help="check only these modules (tornado.web,tornado.gen); "
                             "final/README.md is then not checked")
    options = parser.parse_args(argv)

    tornado_dir = find_tornado()
    clang = find_clang()
    if tornado_dir is None or clang is None:
        print("check_parity: SKIP: needs Tornado %s's source (tools/install-deps.sh template) "
              "and clang++ (tools/install-deps.sh clang)" % TORNADO_VERSION, file=sys.stderr)
        return EXIT_SKIPPED
    api = tornado_api(tornado_dir)
    with open(options.mapping) as f:
        entries, problems = parse_mapping(f.read(), options.mapping)
    if options.only:
        unknown = sorted(set(options.only) - set(api))
        if unknown:
            parser.error("no such Tornado module: %s" % ", ".join(unknown))
        api = {module: names for module, names in api.items() if module in options.only}
        entries = [entry for entry in entries if entry.module in options.only]
    declared = declared_names(clang)
    if options.suggest:
        print("\n".join(suggestions(api, entries, declared, tornado_dir)))
        return 0
    problems += check(api, entries, declared, options.mapping)
    rows = counts(api, entries)
    block = readme_block(rows)
    if options.write_readme:
        write_readme(block)
    elif not options.only:
        problem = readme_problem(block)
        if problem:
            problems.append(problem)
    print(table(rows))
    if options.missing:
        print("\nNot there yet:")
        for entry in entries:
            if entry.kind == MISSING:
                print("  %s.%s%s" % (entry.module, entry.name,
                                     ("  (%s)" % entry.detail) if entry.detail else ""))
    if problems:
        print("\n%d problem(s):" % len(problems), file=sys.stderr)
        for problem in problems:
            print("  " + problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
