#!/usr/bin/env python3
"""Every public name of the headers is on a page of the reference.

    check_reference.py XML_DIR HTML_DIR

Reads Doxygen's XML: each class, struct and union in namespace tornado
(and its namespaces, but not detail; a nested one only when it is
public), and each function, type, variable and enum declared at namespace
scope there. Each must belong to
the group of its header (docs/doxygen_filter.py puts it there), and its
name must be on that group's page (docs/reference/NAME.html). Prints what
is missing; exit status 1 if anything is.
"""
import collections
import html
import os
import re
import sys
import xml.etree.ElementTree as ElementTree

# Headers that are not Tornado modules of their own, shown on the page of
# the module they serve.
SHOWN_WITH = {"template_compiled": "template", "testing_certificates": "testing",
              "websocket_protocol": "websocket"}
HIDDEN = re.compile(r"(^|::)(detail|template_detail)(::|$)")


def public_names(xml_dir):
    """(qualified name, header) of every name a reader of the headers can use."""
    names = []
    index = ElementTree.parse(os.path.join(xml_dir, "index.xml")).getroot()
    for compound in index.findall("compound"):
        kind, name = compound.get("kind"), compound.findtext("name")
        if kind in ("class", "struct", "union") and name.startswith("tornado::"):
            if not HIDDEN.search(name):
                names.append((name, compound.get("refid")))
        if kind == "namespace" and name.startswith("tornado") and not HIDDEN.search(name):
            for member in compound.findall("member"):
                if member.get("kind") in ("function", "typedef", "variable", "enum"):
                    names.append((name + "::" + member.findtext("name"), member.get("refid")))
    return names


def nested_in(xml_dir):
    """refid → (outer refid, protection) of every class nested in a class."""
    outer = {}
    for file_name in os.listdir(xml_dir):
        if file_name.startswith(("class", "struct", "union")):
            compound = ElementTree.parse(os.path.join(xml_dir, file_name)).getroot()
            for definition in compound.findall("compounddef"):
                for inner in definition.findall("innerclass"):
                    outer[inner.get("refid")] = (definition.get("id"), inner.get("prot"))
    return outer


def shown_name(name):
    """What the page shows of a qualified name: the last part, without
    template arguments (`Function< R(Args...) >` is shown as Function)."""
    depth, last = 0, ""
    for char in name:
        depth += char == "<"
        depth -= char == ">"
        if depth == 0 and char not in "<>":
            last += char
        if depth == 0 and last.endswith("::"):
            last = ""
    return last.strip()


def grouped(xml_dir):
    """refid → group (header name) of every class and member in a group."""
    group_of = {}
    for file_name in os.listdir(xml_dir):
        if not file_name.startswith("group__"):
            continue
        group = ElementTree.parse(os.path.join(xml_dir, file_name)).getroot().find("compounddef")
        module = group.findtext("compoundname")
        for inner in group.findall("innerclass"):
            group_of[inner.get("refid")] = module
        for member in group.iter("memberdef"):
            group_of[member.get("id")] = module
    return group_of


def main():
    xml_dir, html_dir = sys.argv[1:3]
    group_of = grouped(xml_dir)
    page_text = {}
    missing = collections.defaultdict(list)
    names = public_names(xml_dir)
    outer = nested_in(xml_dir)
    for name, refid in names:
        # A class nested in a class is shown inside it when it is public;
        # a private one is the outer class's business.
        while refid in outer:
            refid, protection = outer[refid]
            if protection != "public":
                break
        else:
            protection = "public"
        if protection != "public":
            continue
        module = group_of.get(refid)
        if module is None:
            missing["in no header's group"].append(name)
            continue
        page_name = SHOWN_WITH.get(module, module)
        page = os.path.join(html_dir, "docs", "reference", page_name + ".html")
        if page not in page_text:
            with open(page, encoding="utf-8") as shown:
                page_text[page] = html.unescape(re.sub(r"<[^>]+>", "", shown.read()))
        if shown_name(name) not in page_text[page]:
            missing["not shown on " + os.path.relpath(page, html_dir)].append(name)
    for why, which in missing.items():
        print("%d names %s: %s" % (len(which), why, ", ".join(sorted(set(which)))))
    print("check_reference.py: %d public names, %d missing" %
          (len(names), sum(len(which) for which in missing.values())))
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
