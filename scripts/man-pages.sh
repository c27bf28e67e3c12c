#!/usr/bin/env bash
# The tools' manual pages: docs/man/*.1 (mdoc) are the source; docs/man/*.md, for reading
# on the web, are generated from them with `mandoc -T markdown`.
#
#   scripts/man-pages.sh            regenerate docs/man/*.md after editing a .1 file
#   scripts/man-pages.sh --check    fail if a page has a mandoc warning, if man(1) warns
#                                   while rendering it, or if a checked-in .md differs from
#                                   the one its .1 gives (CI runs this)
#
# Needs mandoc (Debian: mandoc) and man-db's man.
set -euo pipefail
cd "$(dirname "$0")/../docs/man"
check=0
[ "${1:-}" = --check ] && check=1

# The Markdown of page $1 (e.g. pidfd-run.1): a note that it is generated, then mandoc's.
markdown() {
  echo "<!-- Generated from $1 by scripts/man-pages.sh: edit $1, not this file. -->"
  echo
  mandoc -T markdown -W warning,stop "$1"
}

status=0
for page in pidfd-*.1; do
  md=${page%.1}.md
  if [ "$check" = 0 ]; then
    markdown "$page" > "$md.tmp" && mv "$md.tmp" "$md"
    echo "man-pages: $md from $page"
    continue
  fi
  if ! lint=$(mandoc -T lint -W warning "$page" 2>&1) || [ -n "$lint" ]; then
    echo "man-pages: mandoc -T lint warns about $page:" >&2; echo "$lint" >&2; status=1
  fi
  # groff (through man-db) renders it as `man` will after installing; -ww: all warnings.
  rendered=$(MANWIDTH=80 man --warnings=w -l "$page" 2>&1 > /dev/null) || status=1
  if [ -n "$rendered" ]; then
    echo "man-pages: man -l warns while rendering $page:" >&2; echo "$rendered" >&2; status=1
  fi
  if ! diff -u "$md" <(markdown "$page") > /dev/null; then
    echo "man-pages: $md is not what $page gives; run scripts/man-pages.sh and commit:" >&2
    diff -u "$md" <(markdown "$page") >&2 || true
    status=1
  fi
done
[ "$status" = 0 ] && [ "$check" = 1 ] && echo "man-pages: $(ls pidfd-*.1 | wc -l) pages lint clean, render without warnings, Markdown up to date"
exit "$status"
