#!/usr/bin/env python3
"""Checks that every GoogleTest test the course's Markdown cites exists (course.cited_tests).

Lessons, hints and READMEs cite tests by name, as `Suite.Test` in
backticks: `Task1_ReadUntil.DelimiterSplitAtEveryPosition` says which test
holds a rule. A test renamed or moved to another suite leaves such a
citation pointing at nothing, and a learner who looks it up finds nothing.

The Markdown read is tools/check_docs.py's: every tracked *.md file
(README.md, chapters/, exercises/ and their hints/, final/, tests/,
docs/, slides/). A citation is an inline code span whose whole text is

    [Prefix/]Suite.Test[/Param]     or     Suite.*

where Suite and Test each start with a capital letter, hold only letters,
digits and underscores, and contain at least one lower-case letter
(CamelCase, underscores allowed: Task3_Write.CallbackNeverRunsInsideWrite).
So file names (`web.h`), calls (`loop.start`, `Foo.bar()`), modules
(`tornado.web`), constants (`IOLoop.READ`) and locales (`C.UTF-8`) are not
citations, and neither is a name inside a longer span
(`--gtest_filter=Suite.Test`) or in a fenced code block.

The tests that exist are read from the sources, no build needed: every
*.cpp, *.cc and *.h under tests/, chapters/, exercises/ and final/, where
a line that starts (after blanks) with TEST, TEST_F, TEST_P, TYPED_TEST or
TYPED_TEST_P followed by (Suite, Test) declares one (a commented-out
`// TEST_F(...)` does not). What the citation may say:

  - Suite.Test: a test of any of these kinds;
  - Prefix/Suite.Test[/Param] (how GoogleTest names a parameterized test):
    TEST_P(Suite, Test) and an INSTANTIATE_TEST_SUITE_P(Prefix, Suite, ...);
    Param, known only at run time, is not checked;
  - Suite.*: at least one test of Suite.

Known limits: a test declared through a macro of the course's own is not
seen, and one under #if 0 is seen as if it were compiled; a typed test's
run-time name (Suite/0.Test) is not recognised, cite it as Suite.Test; a
test name of capitals alone (Suite.ABC) is not taken for a citation, while
anything else of the citation's shape in backticks is (`Boost.Beast`
would be: write such a name without backticks); a code span is looked for
within one line, as a citation never holds a blank; and the check knows
which tests exist, not in which program, so a chapter 04 lesson citing a
test that only tests/final/ declares still passes.

Each missing citation is printed as FILE:LINE: what is wrong, with the
suites that do have a test of that name, if any (a renamed suite); exits 1
if there is one, else prints a one-line summary with the counts. Standard
library only.
"""

import collections
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from check_docs import ROOT, tracked_markdown  # noqa: E402

# Where tests are declared.
SOURCE_FOLDERS = ("tests", "chapters", "exercises", "final")
SOURCE_SUFFIXES = {".cpp", ".cc", ".h"}

IDENT = r"[A-Z][A-Za-z0-9_]*"
# The whole text of a code span that cites a test.
CITATION_RE = re.compile(rf"^(?:(?P<prefix>[A-Za-z_][A-Za-z0-9_]*)/)?(?P<suite>{IDENT})\."
                         rf"(?:(?P<test>{IDENT})(?:/(?P<param>[A-Za-z0-9_]+))?|(?P<all>\*))$")
CODE_SPAN_RE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")

TEST_RE = re.compile(r"^[ \t]*(?P<kind>TEST|TEST_F|TEST_P|TYPED_TEST|TYPED_TEST_P)\s*\(\s*"
                     r"(?P<suite>[A-Za-z_][A-Za-z0-9_]*)\s*,\s*"
                     r"(?P<test>[A-Za-z_][A-Za-z0-9_]*)\s*\)", re.MULTILINE)
INSTANTIATE_RE = re.compile(r"^[ \t]*(?:INSTANTIATE_TEST_SUITE_P|INSTANTIATE_TEST_CASE_P)\s*\(\s*"
                            r"(?P<prefix>[A-Za-z_][A-Za-z0-9_]*)\s*,\s*"
                            r"(?P<suite>[A-Za-z_][A-Za-z0-9_]*)\s*,", re.MULTILINE)


def camel_case(name):
    return any(character.islower() for character in name)


def source_files():
    """The C++ sources under SOURCE_FOLDERS, walked (not git's list), so
    that a test file not yet added to git counts too; build folders and
    hidden ones are skipped."""
    for folder in SOURCE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            parts = path.relative_to(ROOT).parts
            if any(part.startswith(("build", ".")) for part in parts):
                continue
            if path.suffix in SOURCE_SUFFIXES and path.is_file():
                yield path


class Tests:
    """Which tests the sources declare, and where."""

    def __init__(self):
        self.kinds = collections.defaultdict(set)            # (suite, test) -> TEST, TEST_F, ...
        self.files_of_suite = collections.defaultdict(set)   # suite -> files
        self.suites_of_test = collections.defaultdict(set)   # test -> suites
        self.prefixes = collections.defaultdict(set)         # suite -> instantiation prefixes
        for path in source_files():
            text = path.read_text(errors="replace")
            where = str(path.relative_to(ROOT))
            for match in TEST_RE.finditer(text):
                suite, test = match.group("suite"), match.group("test")
                self.kinds[(suite, test)].add(match.group("kind"))
                self.files_of_suite[suite].add(where)
                self.suites_of_test[test].add(suite)
            for match in INSTANTIATE_RE.finditer(text):
                self.prefixes[match.group("suite")].add(match.group("prefix"))

    def problem(self, citation):
        """What is wrong with a citation (a CITATION_RE match), or None."""
        name = citation.group(0)
        suite, test = citation.group("suite"), citation.group("test")
        prefix = citation.group("prefix")
        everywhere = ", ".join(folder + "/" for folder in SOURCE_FOLDERS)
        if citation.group("all"):
            if suite in self.files_of_suite:
                return None
            return f"{name} names no test suite ({everywhere}: no TEST({suite}, ...))"
        kinds = self.kinds.get((suite, test))
        if not kinds:
            files = sorted(self.files_of_suite.get(suite, ()))
            where = ", ".join(files) if files else everywhere
            problem = f"{name} is not a test ({where}: no TEST({suite}, {test})"
            others = sorted(self.suites_of_test.get(test, ()))
            if others:
                problem += "; a test of that name: " + ", ".join(f"{other}.{test}"
                                                                 for other in others)
            return problem + ")"
        if prefix is not None or citation.group("param") is not None:
            if "TEST_P" not in kinds:
                return (f"{name} is not a test ({suite}.{test} is not a TEST_P: "
                        f"cite it as {suite}.{test})")
            known = self.prefixes.get(suite, set())
            if prefix is not None and prefix not in known:
                return (f"{name} is not a test (no INSTANTIATE_TEST_SUITE_P({prefix}, {suite}, "
                        f"...); {suite}'s prefixes: {', '.join(sorted(known)) or 'none'})")
        return None


def citations(markdown):
    """(line number, match) for each citation of a Markdown file, outside
    fenced code blocks."""
    in_fence = False
    for number, line in enumerate(markdown.read_text().splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for span in CODE_SPAN_RE.findall(line):
            match = CITATION_RE.match(span.strip())
            if match and camel_case(match.group("suite")) and \
                    (match.group("all") or camel_case(match.group("test"))):
                yield number, match


def main():
    tests = Tests()
    files = tracked_markdown()
    problems = []
    count = 0
    for markdown in files:
        for number, citation in citations(markdown):
            count += 1
            problem = tests.problem(citation)
            if problem:
                problems.append(f"{markdown.relative_to(ROOT)}:{number}: {problem}")
    for problem in problems:
        print(problem)
    if problems:
        print(f"cited_tests: {len(problems)} of {count} citations name no test")
        return 1
    print(f"cited_tests: the {count} citations of tests in {len(files)} Markdown files all "
          f"name a test that exists ({len(tests.kinds)} tests in {len(tests.files_of_suite)} "
          "suites)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
