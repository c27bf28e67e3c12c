#!/usr/bin/env python3
"""Checks that every fenced C++ block of a Markdown page is a snippet region of a
compiled source file, and that every region is shown on the page.

Usage: check_snippets.py PAGE.md SOURCE.cpp
Regions are the lines between "// [name]" and "// [end]", compared after removing their
common indentation."""
import re
import sys
import textwrap


def regions(source):
    out, name, lines = {}, None, []
    for line in source.splitlines():
        stripped = line.strip()
        if name is None:
            m = re.fullmatch(r"// \[(\w+)\]", stripped)
            if m and m.group(1) != "end":
                name, lines = m.group(1), []
        elif stripped == "// [end]":
            out[name] = textwrap.dedent("\n".join(lines)).strip("\n")
            name = None
        else:
            lines.append(line)
    return out


def blocks(page):
    return [textwrap.dedent(b).strip("\n")
            for b in re.findall(r"```cpp\n(.*?)```", page, flags=re.S)]


def main():
    page = open(sys.argv[1], encoding="utf-8").read()
    source = open(sys.argv[2], encoding="utf-8").read()
    want = regions(source)
    shown = blocks(page)
    bad = 0
    for i, b in enumerate(shown, 1):
        if b not in want.values():
            print(f"{sys.argv[1]}: C++ block {i} is not a region of {sys.argv[2]}:\n{b}\n")
            bad += 1
    for name, text in want.items():
        if text not in shown:
            print(f"{sys.argv[2]}: region [{name}] is not shown in {sys.argv[1]}")
            bad += 1
    print(f"{len(shown)} blocks, {len(want)} regions, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
