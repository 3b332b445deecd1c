#!/usr/bin/env python3
"""Every public name of the headers is declared on its page of the reference.

    check_reference.py SITE_DIR     SITE_DIR is what tools/build_docs.sh
                                    made (build/docs); its html/objects.inv
                                    is read

The names come from the compiler, not from Doxygen: clang reads one file
that includes every header of final/include/tornado/ and of the add-ons
(final/*/include/tornado/), and the check lists what they declare in
namespace tornado and in its namespaces other than the detail ones
(detail, template_detail): each class, struct, union, enum, type alias,
variable and free function, and each public class or enum nested in a
class. So a name Doxygen never saw (a header missing from the Doxyfile's
INPUT, a namespace its EXCLUDE_SYMBOLS hides, a declaration its parser
skips) is looked for all the same. A class the headers only declare
(`class HTTP2Stream;`, defined in the library's sources) has no contents
to show and is not looked for.

The site lists what it shows in html/objects.inv: Sphinx's inventory of
every declaration, with the address of its page. A name is shown when a
C++ declaration of it is on its header's page
(docs/reference/HEADER.html; SHOWN_WITH lists the headers shown on
another module's page). A class must be there under its qualified name; a
free function, type or variable may be under its own name, as Breathe
shows a group's members.

Prints what is missing; exit status 1 if anything is, 77 (a skip under
CTest) when clang is not installed (tools/install-deps.sh docs installs
it). Standard library only.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDES = [os.path.join(ROOT, "final", "include")] + sorted(
    os.path.dirname(path) for path in glob.glob(os.path.join(ROOT, "final", "*", "include", "tornado")))
# Headers that are not Tornado modules of their own, shown on the page of
# the module they serve.
SHOWN_WITH = {"template_compiled": "template", "testing_certificates": "testing",
              "websocket_protocol": "websocket"}
# What a namespace declares, as clang's JSON names the kinds. A
# using-declaration, a specialization and a static_assert declare no name
# of their own.
CLASSES = {"CXXRecordDecl", "ClassTemplateDecl"}
DECLARATIONS = CLASSES | {"EnumDecl", "TypeAliasDecl", "TypeAliasTemplateDecl", "TypedefDecl",
                          "VarDecl", "VarTemplateDecl", "FunctionDecl", "FunctionTemplateDecl"}
# What a class declares that the reference shows as a name of its own.
NESTED = CLASSES | {"EnumDecl"}


def find_clang():
    for name in ("clang++-14", "clang++"):
        found = shutil.which(name)
        if found:
            return found
    return None


def is_detail(namespace):
    return namespace == "detail" or namespace.endswith("_detail")


def clang_trees(clang):
    """What the headers declare in namespace tornado, as clang dumps it: one
    JSON tree for each `namespace tornado {` that a header opens."""
    headers = sorted(path for folder in INCLUDES for path in glob.glob(os.path.join(folder, "tornado", "*.h")))
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as source:
        source.write("".join('#include "%s"\n' % header for header in headers))
    flags = [flag for folder in INCLUDES for flag in ("-I", folder)]
    try:
        done = subprocess.run([clang, "-std=c++20", "-fsyntax-only", "-Xclang", "-ast-dump=json",
                               "-Xclang", "-ast-dump-filter=tornado"] + flags + [source.name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.unlink(source.name)
    if done.returncode != 0:
        raise RuntimeError("clang could not read the headers:\n%s" % done.stderr.decode()[-2000:])
    text, decoder, trees, at = done.stdout.decode(), json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return trees
        tree, at = decoder.raw_decode(text, at)
        trees.append(tree)


class Names:
    """The public names of clang's trees, walked in the order clang wrote
    them: a location names its file only when the file changed since the
    location written before it, so the walk keeps the last file it saw."""

    def __init__(self):
        self.file = None
        self.modules = {}  # qualified name → modules of the headers declaring it
        # qualified name → whether the site must show it qualified (a class,
        # or what a class declares) or may show it by its own name.
        self.qualified = {}
        self.classes = set()
        self.defined = set()  # the classes some header defines

    def see(self, node):
        """Notes the file a declaration's own loc and range name."""
        for key in ("loc", "range"):
            self.see_location(node.get(key))

    def see_location(self, location):
        if not isinstance(location, dict):
            return
        if "offset" in location and "file" in location:
            self.file = location["file"]
        for key in ("spellingLoc", "expansionLoc", "begin", "end"):
            self.see_location(location.get(key))

    def namespace(self, node, scope):
        self.see(node)
        for inner in node.get("inner", []):
            self.declaration(inner, scope)

    def declaration(self, node, scope):
        kind, name = node.get("kind"), node.get("name")
        self.see(node)
        if kind == "NamespaceDecl" and name and not is_detail(name):
            self.namespace(node, scope + "::" + name)
        elif kind in DECLARATIONS and name and not node.get("isImplicit") and declares_a_name(node):
            self.note(scope + "::" + name, kind, node, kind in CLASSES)
        elif kind == "ClassTemplatePartialSpecializationDecl" and node.get("completeDefinition"):
            # Function<R(Args...)> defines the class Function<Signature>.
            self.defined.add(scope + "::" + name)
            self.skip(node)
        else:
            self.skip(node)

    def note(self, name, kind, node, qualified):
        file = self.file
        if file is not None and os.path.realpath(os.path.join(ROOT, file)).startswith(ROOT + os.sep):
            self.modules.setdefault(name, set()).add(os.path.splitext(os.path.basename(file))[0])
            self.qualified[name] = qualified
        if kind in CLASSES:
            self.classes.add(name)
            record = node if kind == "CXXRecordDecl" else templated(node)
            if record.get("completeDefinition"):
                self.defined.add(name)
            self.members(record, name)
        else:
            self.skip(node)

    def members(self, record, scope):
        """A class's public nested classes and enums."""
        self.see(record)
        # Which members are public, the access specifiers between them say.
        access = "private" if record.get("tagUsed") == "class" else "public"
        for inner in record.get("inner", []):
            kind, name = inner.get("kind"), inner.get("name")
            self.see(inner)
            if kind == "AccessSpecDecl":
                access = inner.get("access")
            if kind in NESTED and name and access == "public" and not inner.get("isImplicit"):
                self.note(scope + "::" + name, kind, inner, True)
            else:
                self.skip(inner)

    def skip(self, node):
        """Walks a subtree only for the files its locations name."""
        self.see(node)
        for inner in node.get("inner", []):
            self.skip(inner)

    def public(self):
        """qualified name → (modules, shown qualified), without the classes
        that are only declared."""
        return {name: (modules, self.qualified[name]) for name, modules in self.modules.items()
                if name not in self.classes or name in self.defined}


def templated(node):
    """The class or function a template declares."""
    for inner in node.get("inner", []):
        if inner.get("kind") not in ("TemplateTypeParmDecl", "NonTypeTemplateParmDecl",
                                     "TemplateTemplateParmDecl"):
            return inner
    return {}


def declares_a_name(node):
    """Not a deduction guide, nor a member function defined after its class
    (`auto IOLoop::run_sync(...) {...}`, a function template whose
    declaration is a method)."""
    if node.get("kind") != "FunctionTemplateDecl":
        return True
    return templated(node).get("kind") == "FunctionDecl"


def declared_names(clang):
    """qualified name → (modules of the headers declaring it, shown qualified)."""
    names = Names()
    for tree in clang_trees(clang):
        names.file = None
        if tree.get("kind") == "NamespaceDecl" and tree.get("name") == "tornado":
            names.namespace(tree, "tornado")
        else:
            names.skip(tree)
    return names.public()


def shown_declarations(site_dir):
    """page → the names of the C++ declarations on it, as objects.inv lists
    them: a class qualified, a group's function, type or variable by its own
    name."""
    with open(os.path.join(site_dir, "html", "objects.inv"), "rb") as inventory:
        data = inventory.read()
    # Four lines of header, then zlib: `name domain:role priority address display`.
    lines = zlib.decompress(data.split(b"\n", 4)[4]).decode().splitlines()
    shown = {}
    for line in lines:
        found = re.match(r"(.+?)\s+(\S+)\s+(-?\d+)\s+?(\S*)\s+(.*)", line)
        if not found:
            continue
        name, role, _, address, _ = found.groups()
        if role.startswith("cpp:") and role not in ("cpp:functionParam", "cpp:templateParam"):
            shown.setdefault(address.split("#")[0], set()).add(name)
    return shown


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    clang = find_clang()
    if clang is None:
        print("check_reference.py: SKIP: no clang++ to list the headers' names "
              "(tools/install-deps.sh docs)", file=sys.stderr)
        sys.exit(77)
    names = declared_names(clang)
    shown = shown_declarations(sys.argv[1])
    missing = {}
    for name, (modules, qualified) in sorted(names.items()):
        pages = sorted({"docs/reference/%s.html" % SHOWN_WITH.get(module, module) for module in modules})
        forms = {name} if qualified else {name, name.split("::")[-1]}
        if not any(forms & shown.get(page, set()) for page in pages):
            missing.setdefault(" or ".join(pages), []).append(name)
    for pages, which in sorted(missing.items()):
        print("not declared on %s: %s" % (pages, ", ".join(which)))
    print("check_reference.py: %d public names, %d missing" %
          (len(names), sum(len(which) for which in missing.values())))
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
