#!/usr/bin/env python3
"""Writes each C++ block of README.md that follows a `<!-- compiled: NAME -->`
line to OUT_DIR/NAME, so the tests compile and run exactly what the README
shows. Fails when a marked block is missing or a name repeats.

    tests/readme/extract.py README.md OUT_DIR
"""

import os
import re
import sys


def main(readme, out_dir):
    text = open(readme, encoding="utf-8").read()
    blocks = re.findall(r"<!-- compiled: ([\w.]+) -->\s*```cpp\n(.*?)```", text, re.S)
    markers = re.findall(r"<!-- compiled: ([\w.]+) -->", text)
    if len(blocks) != len(markers):
        sys.exit(f"{readme}: a `<!-- compiled: NAME -->` line is not followed by a ```cpp block")
    names = [name for name, _ in blocks]
    if len(set(names)) != len(names):
        sys.exit(f"{readme}: a compiled block's name repeats: {names}")
    os.makedirs(out_dir, exist_ok=True)
    for name, code in blocks:
        path = os.path.join(out_dir, name)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != code:  # unchanged files keep their time: no needless rebuild
            with open(path, "w", encoding="utf-8") as f:
                f.write(code)
    print(";".join(names), end="")


if __name__ == "__main__":
    main(*sys.argv[1:])
