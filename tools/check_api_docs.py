#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every public function is documented the same way, in its header.

For each GREEN_API declaration in include/green/*.h: the comment right above it must say
what the call returns and how it fails, i.e. mention errno (with the codes) or state that
it never fails.  Run by `meson test` (suite docs); prints each offender and exits 1.
"""
import pathlib
import re
import sys

DECL = re.compile(r"^GREEN_API\b[^(]*?\b(green_\w+)\s*\(", re.M)
FAILS_DOCUMENTED = re.compile(r"\berrno\b|[Nn]ever\s+(\*\s+)?fails")


def comment_above(text, pos):
    """The /* ... */ block that ends on the line above pos, or ''."""
    before = text[:pos].rstrip()
    if not before.endswith("*/"):
        return ""
    start = before.rfind("/*")
    return before[start:] if start >= 0 else ""


def main(root):
    bad = []
    headers = sorted((root / "include" / "green").glob("*.h"))
    if not headers:
        print(f"check_api_docs: no headers under {root / 'include' / 'green'}")
        return 1
    count = 0
    for header in headers:
        text = header.read_text()
        for m in DECL.finditer(text):
            count += 1
            doc = comment_above(text, m.start())
            line = text.count("\n", 0, m.start()) + 1
            where = f"{header.relative_to(root)}:{line}: {m.group(1)}"
            if not doc:
                bad.append(f"{where}: no comment above the declaration")
            elif not FAILS_DOCUMENTED.search(doc):
                bad.append(f"{where}: the comment names no errno (or says it never fails)")
    for b in bad:
        print(b)
    print(f"check_api_docs: {count} public functions, {len(bad)} undocumented")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()))
