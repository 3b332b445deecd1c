#!/usr/bin/env bash
# Lays out final/'s C++ by the root .clang-format.
#
#   tools/format.sh           rewrite the files in place (make format)
#   tools/format.sh --check   change nothing; list each file that differs and
#                             fail (the CTest test course.format)
#
# clang-format 14 exactly: another version lays some lines out otherwise,
# and the check must not depend on which one a machine happens to have.
set -euo pipefail
cd "$(dirname "$0")/.."

formatter=clang-format-14
command -v "$formatter" >/dev/null || {
  echo "format.sh: $formatter not found (tools/install-deps.sh build installs it)" >&2
  exit 2
}

# The files git knows under final/, plus new ones not yet added.
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- 'final/*.h' 'final/*.cpp' 2>/dev/null ||
                     find final -name '*.h' -o -name '*.cpp')

if [ "${1:-}" = "--check" ]; then
  drifted=0
  for file in "${files[@]}"; do
    if ! "$formatter" --style=file "$file" | cmp -s - "$file"; then
      echo "not laid out by .clang-format: $file (make format fixes it)"
      drifted=1
    fi
  done
  [ $drifted -eq 0 ] && echo "format: ${#files[@]} files of final/ match .clang-format"
  exit $drifted
fi

"$formatter" --style=file -i "${files[@]}"
echo "format: ${#files[@]} files of final/ laid out by .clang-format"
