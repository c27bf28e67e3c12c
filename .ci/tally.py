#!/usr/bin/env python3
"""Prints the test counts of CI's runs and a closing total line.

Arguments: LABEL=FILE pairs. FILE is either GoogleTest's XML report (which meson writes
for a gtest-protocol test) or a text file whose first line is "P F S" (passed, failed,
skipped), as .ci/old-kernels.sh writes for the runs under qemu."""
import sys
import xml.etree.ElementTree as ET

total = [0, 0, 0]
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    if path.endswith(".xml"):
        root = ET.parse(path).getroot()
        tests = int(root.get("tests", 0))
        failed = int(root.get("failures", 0)) + int(root.get("errors", 0))
        skipped = int(root.get("skipped", 0)) + int(root.get("disabled", 0))
        counts = [tests - failed - skipped, failed, skipped]
    else:
        with open(path) as f:
            counts = [int(x) for x in f.readline().split()]
    total = [t + c for t, c in zip(total, counts)]
    print(f"{label}: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped")
print(f"total: {total[0]} passed, {total[1]} failed, {total[2]} skipped")
