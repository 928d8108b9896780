#!/usr/bin/env python3
"""Print the N slowest tests of a nextest JUnit report (default 10).

usage: slowest-tests.py JUNIT.xml [N]
"""
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"slowest tests: cannot read {path}: {e}")
        return 0
    cases = []
    for case in root.iter("testcase"):
        status = "FAIL" if case.find("failure") is not None or case.find("error") is not None else "pass"
        cases.append((float(case.get("time", "0")), case.get("classname", ""), case.get("name", ""), status))
    cases.sort(reverse=True)
    print(f"== the {min(n, len(cases))} slowest of {len(cases)} tests")
    for secs, cls, name, status in cases[:n]:
        print(f"{secs:9.1f} s  {status}  {cls} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
