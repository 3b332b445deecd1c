#!/usr/bin/env python3
"""Doxygen's INPUT_FILTER for final/include/tornado/*.h (make docs).

The headers document their names with plain `//` comments, the way all of
the course's code does; Doxygen reads only documentation comments. This
filter rewrites each header on the fly, leaving the file as it is:

- the comment at the top becomes the file's documentation, and every
  name the header declares in namespace tornado joins a group named after
  the header, so that its reference page (docs/reference/) shows exactly
  the header's names;
- each `//` block that stands right above a declaration, at namespace or
  class scope, becomes a documentation block; comments inside function
  bodies, and blocks followed by a blank line, stay ordinary comments;
- inside those blocks, an indented run after an empty line (a code
  example, a diagram) becomes a verbatim block, so it keeps its layout,
  and the prose is escaped where Doxygen would read commands or HTML.

    doxygen_filter.py HEADER     prints the rewritten header
"""
import os
import re
import sys

# `Class::member(` before a body at namespace scope: a member defined out
# of its class (a template's, at the end of a header).
OUT_OF_CLASS_MEMBER = re.compile(r"[\w>]\s*::\s*(~?\w+|operator\W*)\s*\(\)")
NOT_NAMES = {"requires", "decltype", "noexcept", "alignas", "sizeof", "static_assert", "explicit"}
DECLARES_A_SCOPE = re.compile(r"\b(namespace|class|struct|union|enum)\b|extern\s+\"C\"")


def code_of(line):
    """The line without its // comment, strings and character literals."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])*'", "''", line)
    return line.split("//")[0]


def without_arguments(statement):
    """`f(a, g(b))` as `f()`, so that names in arguments are not taken for
    the declared one."""
    while True:
        shorter = re.sub(r"\([^()]*\)", "\0", statement)
        if shorter == statement:
            return shorter.replace("\0", "()")
        statement = shorter


def at_declaration_scope(stack):
    return all(scope[0] in ("namespace", "declaration") for scope in stack)


class Scopes:
    """Which lines start at namespace or class scope (not in a function
    body), where each namespace opens and closes, and which members are
    defined out of their class."""

    def __init__(self, lines):
        self.at_declaration_scope = []
        self.namespace_lines = []  # (opening line, closing line), any depth
        self.member_definitions = []  # (first line, last line)
        self.declarations = {}  # first line → (last line, the name declared)
        stack, statement, in_block_comment = [], "", False
        statement_start = 0
        for number, line in enumerate(lines):
            self.at_declaration_scope.append(at_declaration_scope(stack))
            code = code_of(line)
            if in_block_comment:
                if "*/" not in code:
                    continue
                code, in_block_comment = code.split("*/", 1)[1], False
            code = re.sub(r"/\*.*?\*/", "", code)
            if "/*" in code:
                code, in_block_comment = code.split("/*")[0], True
            if not statement.strip() and code.strip():
                statement_start = number
            for char in code:
                if char == "{" and statement.rstrip()[-1:] in ("=", "(", ",", "{"):
                    # A braced initializer (`options = {}`): part of the statement.
                    stack.append(("initializer", number, statement_start, statement))
                    statement = ""
                elif char == "{":
                    kind = self.kind_of(statement, stack)
                    if kind == "body" and stack and stack[-1][0] == "namespace" \
                            and OUT_OF_CLASS_MEMBER.search(without_arguments(statement)):
                        kind = "member definition"
                    stack.append((kind, number, statement_start, statement))
                    statement = ""
                elif char == "}":
                    kind, opened, started, head = stack.pop() if stack else ("", 0, 0, "")
                    if kind == "initializer":
                        statement = head + "{}"
                        continue
                    if kind == "namespace":
                        self.namespace_lines.append((opened, number))
                    if kind == "member definition":
                        self.member_definitions.append((started, number))
                    if kind in ("body", "member definition") and at_declaration_scope(stack):
                        self.note_declaration(started, number, head)
                    statement = ""
                elif char == ":" and statement.strip() in ("public", "protected", "private"):
                    statement = ""  # an access specifier is not part of what follows
                elif char == ";":
                    if at_declaration_scope(stack):
                        self.note_declaration(statement_start, number, statement)
                    statement = ""
                else:
                    statement += char
            statement += " "

    def note_declaration(self, first, last, statement):
        """Notes the name a function declaration declares: the first name
        called with (), before any `=` (a default member initializer, or
        `= delete`), that is not a keyword (`requires(...)`)."""
        head = re.split(r"(?<!operator)(?<![=!<>])=(?!=)", without_arguments(statement))[0]
        for name in re.finditer(r"(~?[A-Za-z_]\w*|operator\s*[^\s(]+)\s*\(\)", head):
            if name.group(1) not in NOT_NAMES:
                self.declarations[first] = (last, name.group(1))
                return

    @staticmethod
    def kind_of(statement, stack):
        if not at_declaration_scope(stack) or not DECLARES_A_SCOPE.search(statement):
            return "body"
        return "namespace" if re.search(r"\bnamespace\s+\w", statement) else "declaration"


def escaped(prose):
    """Outside `code spans`, what Doxygen would read as a command or HTML is
    escaped; inside them, only &, which it reads as an entity anyway."""
    parts = prose.split("`")
    for i in range(len(parts)):
        if i % 2 == 0:
            parts[i] = re.sub(r"([\\@<>&#%$])", r"\\\1", parts[i])
            # A scheme alone ("http:// and https://") would become a link to
            # nowhere: % keeps Doxygen from linking the word.
            parts[i] = re.sub(r"\b(https?|wss?)://", r"%\1://", parts[i])
            # Doxygen makes -- and --- dashes: `--port` is an option.
            parts[i] = re.sub(r"(?<!\\)--", r"\\--", parts[i])
        else:
            parts[i] = parts[i].replace("&", "&amp;")
    return "`".join(parts)


def documentation(texts, indent, commands=()):
    """Comment texts (without their //) as one documentation block. Doxygen
    keeps a line's /// or * prefix inside a verbatim block, so the block is
    written with bare lines."""
    out, in_verbatim, previous = [indent + "/**"] + list(commands), False, ""
    for text in texts:
        # "*/" in the text (a commented argument in an example) would end
        # the block, and "/*" (a MIME range, "text/*") would open a nested
        # one: U+2215 and U+2217 look the same and mean nothing to Doxygen.
        text = text.replace("*/", "*\u2215").replace("/*", "\u2215*")
        indented = text.startswith("   ") or text.startswith("\t")
        if indented and not in_verbatim and not previous.strip():
            out.append(indent + "\\verbatim")
            in_verbatim = True
        elif in_verbatim and text.strip() and not indented:
            out.append(indent + "\\endverbatim")
            in_verbatim = False
        if in_verbatim:
            out.append(indent + text)
        else:
            # A bare line starting with * would lose it: lists use -.
            out.append(indent + escaped(re.sub(r"^(\s*)\* ", r"\1- ", text)))
        previous = text
    if in_verbatim:
        out.append(indent + "\\endverbatim")
    return out + [indent + " */"]


def documented_overloads(lines, scopes):
    """line → (comment texts, indent) for each overload declared right
    after a commented one, with no blank line between: the comment above
    `f(int)` is the contract of the `f(std::string)` under it too."""
    copies, i = {}, 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("//"):
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].lstrip().startswith("//"):
            i += 1
        if i not in scopes.declarations or not scopes.at_declaration_scope[start]:
            continue
        texts = [line.strip()[2:] for line in lines[start:i]]
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        last, name = scopes.declarations[i]
        while last + 1 in scopes.declarations and scopes.declarations[last + 1][1] == name:
            copies[last + 1] = (texts, indent)
            last = scopes.declarations[last + 1][0]
    return copies


def trailing_comment(line):
    """(code, column of //) when the line is code ending in a // comment."""
    quote = None
    for column, char in enumerate(line):
        if quote:
            if char == "\\":
                continue
            if char == quote and line[column - 1] != "\\":
                quote = None
        elif char in "\"'":
            quote = char
        elif line.startswith("//", column):
            code = line[:column].rstrip()
            return (code, column) if code else None
    return None


def with_trailing_documentation(lines, scopes):
    """A declaration with a comment beside it (`int port = 0;  // 0: any`)
    is documented by that comment, and so are the comment lines under it
    that start in the same column (its continuation, which would
    otherwise be taken for the next declaration's comment)."""
    out, i = [], 0
    while i < len(lines):
        found = trailing_comment(lines[i]) if scopes.at_declaration_scope[i] else None
        if not found or not found[0].endswith(";"):
            out.append(lines[i])
            i += 1
            continue
        code, column = found
        texts = [lines[i][column + 2:]]
        i += 1
        continued = 0
        while i < len(lines) and lines[i].startswith(" " * column + "//"):
            texts.append(lines[i][column + 2:])
            i += 1
            continued += 1
        text = " ".join(text.strip() for text in texts).replace("*/", "*\u2215")
        # The continuation's lines stay, empty, so that line numbers hold.
        out += [code + "  /**< " + escaped(text) + " */"] + [""] * continued
    return out


def rewritten(lines, module):
    scopes = Scopes(lines)
    # The group takes the names declared inside namespaces, but not the
    # namespaces themselves: a namespace that two headers open (tornado,
    # tornado::compiled) would otherwise be shown, whole, on both pages.
    opens = {opened for opened, _ in scopes.namespace_lines}
    closes = {closed for _, closed in scopes.namespace_lines}
    depth = 0
    # A member defined out of its class would join the header's group a
    # second time, beside its class: Doxygen gets the declaration only.
    for first, last in scopes.member_definitions:
        lines = lines[:first] + [""] * (last - first + 1) + lines[last + 1:]
    lines = with_trailing_documentation(lines, scopes)
    overloads = documented_overloads(lines, scopes)
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith("//"):
            if i in overloads:
                out.extend(documentation(*overloads[i]))
            if (i in opens or i in closes) and depth > 0:
                out.append("/** @} */")
            depth += (i in opens) - (i in closes)
            out.append(line)
            if (i in opens or i in closes) and depth > 0:
                out.append("/** \\addtogroup %s\n @{ */" % module)
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].lstrip().startswith("//"):
            i += 1
        texts = [line.strip()[2:] for line in lines[start:i]]
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        following = lines[i].strip() if i < len(lines) else ""
        if start == 0:
            group = "\\defgroup %s tornado/%s.h" % (module, module)
            out.extend(documentation(texts, "", ["\\file", group]))
        elif scopes.at_declaration_scope[start] and following and not following.startswith("#"):
            out.extend(documentation(texts, indent))
        else:
            out.extend(lines[start:i])
    return out


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as header:
        lines = header.read().split("\n")
    module = os.path.splitext(os.path.basename(path))[0]
    sys.stdout.write("\n".join(rewritten(lines, module)))


if __name__ == "__main__":
    main()
