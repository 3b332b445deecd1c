"""Links between the course's Markdown files, as they are written for GitHub.

A README links a folder (`[chapter 01](chapters/01-blocking-server/)`): on
GitHub that shows the folder's README.md, which is a page of the site. MyST
does not know that rule, so it would report the link as broken; this
extension resolves it to the folder's README page. Any other link that does
not resolve stays a warning, which `sphinx-build -W` makes an error.
"""
import posixpath

from sphinx.util.nodes import make_refnode


def resolve_folder_link(app, env, node, contnode):
    # MyST asks with the reftype "any" after its own lookup failed.
    if node.get("reftype") not in ("myst", "any"):
        return None
    target = node["reftarget"].split("#")[0]
    if not target.endswith("/"):
        return None
    here = posixpath.dirname(node["refdoc"])
    readme = posixpath.normpath(posixpath.join(here, target, "README"))
    if readme not in env.all_docs:
        return None
    return make_refnode(app.builder, node["refdoc"], readme, "", contnode)


def setup(app):
    app.connect("missing-reference", resolve_folder_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
