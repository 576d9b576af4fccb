#!/usr/bin/env python3
"""Checks every header under include/audiocast/ against the layering rules of
docs/architecture.md ("Layers"): the tables there are the rules, read from the
page, so the rules are written once.

    python3 tests/layering/check.py [REPO_ROOT]

Fails (exit 1), naming the header, the line and the rule, when a header
  - belongs to no layer, or to two;
  - includes an audiocast header of a layer its own row does not name;
  - includes Asio, or the test transport or clock, where the "only in" table
    does not allow it;
  - includes an audiocast header that does not exist.
Exit 0 and a one-line summary otherwise.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                    pathlib.Path(__file__).resolve().parents[2])
DOC = ROOT / "docs" / "architecture.md"
INCLUDE = ROOT / "include" / "audiocast"
INCLUDE_LINE = re.compile(r'^\s*#\s*include\s*<([^>]+)>')


def fail(problems):
    for p in problems:
        print(f"layering: {p}", file=sys.stderr)
    print(f"layering: {len(problems)} problem(s); the rules are the tables under "
          f"'## Layers' in docs/architecture.md", file=sys.stderr)
    sys.exit(1)


def tables(section):
    """The rows of every markdown table in `section`, as lists of cells, headings dropped."""
    rows, in_table = [], False
    for line in section.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not in_table:
            in_table = True  # the heading row
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue  # the rule under the heading
        rows.append(cells)
    return rows


def code_spans(cell):
    return re.findall(r"`([^`]+)`", cell)


def matches(pattern, header):
    return header.startswith(pattern) if pattern.endswith("/") else header == pattern


def read_rules():
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"^## Layers\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        fail([f"{DOC}: no '## Layers' section"])
    rows = tables(m.group(1))
    layers, only_in = {}, []
    for cells in rows:
        if len(cells) == 3:
            name, headers, may = cells
            allowed = set() if may.strip().lower() == "nothing else" else {
                a.strip() for a in may.split(",") if a.strip()}
            layers[name] = (code_spans(headers), allowed)
        elif len(cells) == 2:
            what, where = cells
            spans = code_spans(what)
            only_in.append((what, spans, code_spans(where)))
    if not layers:
        fail([f"{DOC}: the Layers section has no layer table"])
    for name, (_, allowed) in layers.items():
        for a in allowed - set(layers):
            fail([f"{DOC}: layer '{name}' may include '{a}', which is no layer"])
    return layers, only_in


def layer_of(header, layers):
    owners = [name for name, (patterns, _) in layers.items()
              if any(matches(p, header) for p in patterns)]
    return owners


def main():
    layers, only_in = read_rules()
    problems, headers = [], sorted(
        p.relative_to(INCLUDE).as_posix() for p in INCLUDE.rglob("*.hpp"))
    for header in headers:
        owners = layer_of(header, layers)
        if len(owners) != 1:
            problems.append(f"include/audiocast/{header}: belongs to "
                            f"{'no layer' if not owners else 'layers ' + ', '.join(owners)}")
            continue
        own = owners[0]
        allowed = layers[own][1] | {own}
        lines = (INCLUDE / header).read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            m = INCLUDE_LINE.match(line)
            if not m:
                continue
            target = m.group(1)
            where = f"include/audiocast/{header}:{number}"
            for what, spans, allowed_in in only_in:
                hit = (target.startswith("asio") if "<asio/...>" in spans else
                       any(target == "audiocast/" + s for s in spans))
                if hit and not any(matches(a, header) for a in allowed_in):
                    problems.append(f"{where}: includes <{target}>; {what} only in "
                                    f"{', '.join(allowed_in)}")
            if not target.startswith("audiocast/"):
                continue
            inner = target[len("audiocast/"):]
            if not (INCLUDE / inner).is_file():
                problems.append(f"{where}: includes <{target}>, which does not exist")
                continue
            theirs = layer_of(inner, layers)
            if len(theirs) == 1 and theirs[0] not in allowed:
                problems.append(f"{where}: {own} includes <{target}> of layer {theirs[0]}; "
                                f"{own} may include {', '.join(sorted(allowed))}")
    if problems:
        fail(problems)
    print(f"layering: {len(headers)} headers in {len(layers)} layers keep the rules of "
          f"docs/architecture.md")


if __name__ == "__main__":
    main()
