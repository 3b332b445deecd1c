#!/usr/bin/env bash
# Builds the course's site (make docs): the lessons, the exercises, the
# guide to final/ and the API reference, with navigation and search.
#
#   tools/build_docs.sh [OUT]    OUT defaults to build/docs; the site is OUT/html/
#
# Doxygen reads final/include/tornado/*.h (docs/Doxyfile; the headers' //
# comments pass through docs/doxygen_filter.py) into OUT/xml/, then Sphinx
# reads the repository's Markdown as it is (MyST) and the XML (Breathe),
# with docs/conf.py. Any warning is an error (-W): a broken link, a missing
# image or page, a declaration the reference cannot show. That every public
# name of the headers is on its page, docs/check_reference.py checks on the
# site this makes (make docs runs it next; CTest as course.reference_complete).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build/docs}")
mkdir -p "$out"

# Doxygen's configuration is the file plus where to write; it reads it
# from standard input.
{ cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $out"; } | doxygen - 2>"$out/doxygen-warnings.txt"
if [[ -s $out/doxygen-warnings.txt ]]; then
  cat "$out/doxygen-warnings.txt" >&2
  echo "build_docs.sh: Doxygen warned (above): the headers' comments need fixing" >&2
  exit 1
fi

# -E: every page is read afresh. Sphinx would otherwise skip the pages it
# read last time, and with them their warnings (a page that failed once
# would pass the next run), and Breathe does not tell it which reference
# pages a change of the headers touched. -j auto: read on every core.
DOXYGEN_XML="$out/xml" sphinx-build -E -W --keep-going -q -j auto -c docs -d "$out/doctrees" \
  -b html . "$out/html"

# The front page is docs/index.md, so it lands in docs/; the site's own
# index.html sends the browser there.
cat > "$out/html/index.html" <<'HTML'
<!DOCTYPE html>
<meta charset="utf-8">
<meta http-equiv="refresh" content="0; url=docs/index.html">
<title>Tornado, rebuilt in C++20</title>
<a href="docs/index.html">The course's site</a>
HTML
echo "site: $out/html/index.html"
