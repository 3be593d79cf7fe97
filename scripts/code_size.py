#!/usr/bin/python3
"""scripts/code_size.py [--max-file N] [--max-function N] [DIR] - the size rules of src/ (issue 13):
no source file above 900 lines (data such as openapi.json excepted) and no function above 120 lines.
Function extents come from universal-ctags (C++ function definitions with their end line).
Prints every breach and exits 1 when there is one; `make size` runs it, and so does `make test`."""
import argparse, json, os, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--max-file", type=int, default=900)
ap.add_argument("--max-function", type=int, default=120)
ap.add_argument("dir", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "src"))
a = ap.parse_args()

SOURCE = (".cpp", ".hpp", ".h", ".cc", ".in")
bad = []
files = []
for root, _, names in os.walk(a.dir):
    for n in names:
        if n.endswith(SOURCE):
            files.append(os.path.join(root, n))
for f in sorted(files):
    with open(f, encoding="utf-8", errors="replace") as fh:
        lines = sum(1 for _ in fh)
    if lines > a.max_file and not f.endswith(".in"):
        bad.append(f"{os.path.relpath(f, a.dir)}: {lines} lines (at most {a.max_file}): split it by what its parts do")

try:
    out = subprocess.run(["ctags", "--languages=C++", "--map-C++=+.in", "--kinds-C++=f", "--fields=+ne",
                          "--output-format=json", "-f", "-"] + sorted(files),
                         capture_output=True, text=True, check=True).stdout
except FileNotFoundError:
    sys.exit("code_size: universal-ctags is missing: run 'make deps' (package universal-ctags)")
for line in out.splitlines():
    t = json.loads(line)
    if t.get("_type") != "tag" or "end" not in t:
        continue
    n = t["end"] - t["line"] + 1
    if n > a.max_function:
        scope = t.get("scope", "")
        name = (scope + "::" if scope else "") + t["name"]
        bad.append(f"{os.path.relpath(t['path'], a.dir)}:{t['line']}: {name} is {n} lines (at most {a.max_function}): "
                   "split it into steps with names")
for b in bad:
    print(b)
print(f"code size: {len(files)} files, {len(bad)} over the limits")
sys.exit(1 if bad else 0)
