# Sphinx's configuration of the course's site (make docs, tools/build_docs.sh).
#
# The source folder is the repository's root: the pages are the Markdown
# files where they are (MyST reads them as written for a reader of the
# repository), plus docs/index.md (the front page and the navigation),
# docs/examples.md and docs/reference/ (one page per Tornado module, whose
# declarations Breathe takes from Doxygen's XML of the headers).
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

project = "Tornado, rebuilt in C++20"
html_title = project
html_show_copyright = False
html_theme = "sphinx_rtd_theme"

extensions = ["myst_parser", "breathe", "course_links"]
root_doc = "docs/index"
include_patterns = [
    "README.md",
    "chapters/*/README.md",
    "exercises/*/README.md",
    "exercises/*/hints/*.md",
    "final/README.md",
    "final/src/README.md",
    "final/src/*/README.md",
    "final/examples/*/README.md",
    "final/examples/guide/*.md",
    "final/deploy/README.md",
    "final/postgres/README.md",
    "final/curl/README.md",
    "final/http2/README.md",
    "final/http3/README.md",
    "tests/bench/README.md",
    "docs/**",
]
exclude_patterns = ["build*", "node_modules"]

# GitHub's rule: a heading is a link target under its slug, down to ####.
myst_heading_anchors = 4
# A code block without a language is shown as it is: most are shell
# sessions, diagrams and output.
highlight_language = "none"

breathe_projects = {"tornado": os.environ.get("DOXYGEN_XML", "build/docs/xml")}
breathe_default_project = "tornado"
breathe_domain_by_extension = {"h": "cpp"}
primary_domain = "cpp"

# docs/static/course.css: wrapping table cells, a wider page.
html_static_path = ["static"]
html_css_files = ["course.css"]
