#!/usr/bin/env python3
"""The architecture's invariants, checked on the source (ARCHITECTURE.md, "Invariants").

  python3 scripts/check_architecture.py [-v]

1. No application folder of crates/recurrent-tasks imports another application, and no
   application module of the CLI another application's module.
2. No import circle, between two files or two folders of a crate (a parent module that
   declares and re-exports its children does not count as importing them).
3. No .rs file over 800 lines outside the tests/ folders (a test module inside a source
   file counts).
4. No function over 150 lines (FUNCTION_DEBT may list a known split still to make; it
   is empty and may only shrink).

The engine crate not depending on recurrent-tasks is Cargo's to enforce (see its
Cargo.toml); `cargo tree -p recurrent` shows it. -v prints each folder and what it imports.
Exit status 1 on any violation.
"""
import collections
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")
CRATES = {
    "recurrent": "recurrent/src",
    "recurrent_tasks": "recurrent-tasks/src",
    "recurrent_cli": "recurrent-cli/src",
}
APPS = {"lm", "classify", "tag", "forecast", "translate", "speech", "music", "lab"}
MAX_FILE_LINES = 800
MAX_FN_LINES = 150
# Long functions not split yet: (file relative to crates/, function). Only shrinks.
FUNCTION_DEBT = set()


def rs_files(top, skip_tests):
    for r, dirs, fs in os.walk(top):
        if skip_tests:
            dirs[:] = [d for d in dirs if d not in ("tests", "target")]
        for f in fs:
            if f.endswith(".rs"):
                yield os.path.join(r, f)


def module_of(crate, path):
    rel = os.path.relpath(path, os.path.join(ROOT, CRATES[crate]))[:-3]
    if rel.endswith("/mod") or rel == "mod":
        rel = rel[:-4]
    return "" if rel in ("lib", "main") else rel.replace("/", "::")


def code_only(src):
    i = src.find("#[cfg(test)]")
    if i >= 0:
        src = src[:i]
    return re.sub(r"//.*", "", src)


def imports():
    mods = {}
    for c, d in CRATES.items():
        for p in rs_files(os.path.join(ROOT, d), True):
            mods[(c, module_of(c, p))] = p

    def resolve(c, path):
        parts = path.split("::")
        for k in range(len(parts), 0, -1):
            if (c, "::".join(parts[:k])) in mods:
                return "::".join(parts[:k])
        return None

    edges = {}
    for (c, m), p in mods.items():
        s = code_only(open(p).read())
        deps = set()
        parent = "::".join(m.split("::")[:-1])
        for mo in re.finditer(r"\b(crate|recurrent|super)((?:::\w+)+)", s):
            pre, path = mo.group(1), mo.group(2)[2:]
            if pre == "super":
                tc, full = c, (parent + "::" if parent else "") + path
            elif pre == "crate":
                tc, full = c, path
            else:
                tc, full = "recurrent", path
            r = resolve(tc, full)
            if r is not None and (tc, r) != (c, m):
                deps.add((tc, r))
        for mo in re.finditer(r"\b(crate|recurrent)::([\w:]*?)::\{([^}]*)\}", s):
            tc = c if mo.group(1) == "crate" else "recurrent"
            for it in mo.group(3).split(","):
                it = it.strip().split(" ")[0]
                if it and it != "self":
                    r = resolve(tc, mo.group(2) + "::" + it)
                    if r is not None and (tc, r) != (c, m):
                        deps.add((tc, r))
        edges[(c, m)] = deps

    def descendant(a, b):
        return a[0] == b[0] and (a[1] == "" or b[1].startswith(a[1] + "::"))

    return {k: [d for d in v if not descendant(k, d)] for k, v in edges.items()}


def cycles(adj):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(adj):
        if v not in index:
            visit(v)
    return out


def long_functions():
    found = []
    for p in rs_files(ROOT, True):
        lines = open(p).read().split("\n")
        for i, line in enumerate(lines):
            m = re.match(r"\s*(pub(\([a-z]+\))?\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)", line)
            if not m:
                continue
            depth, started, j = 0, False, i
            while j < len(lines):
                s = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j])
                s = re.sub(r"'(\\.|[^'\\])'", "''", s).split("//")[0]
                if ";" in s and not started and "{" not in s:
                    break
                depth += s.count("{") - s.count("}")
                started = started or "{" in s
                if started and depth <= 0:
                    break
                j += 1
            if j - i + 1 > MAX_FN_LINES:
                found.append((os.path.relpath(p, ROOT), m.group(5), j - i + 1))
    return found


def main():
    bad = []
    adj = imports()
    for (c, m), deps in adj.items():
        for tc, t in deps:
            a, b = m.split("::")[0], t.split("::")[0]
            if c == tc and c != "recurrent" and a in APPS and b in APPS and a != b:
                bad.append(f"application {a} imports application {b}: {m} -> {t}")
    for comp in cycles(adj):
        bad.append("file circle: " + " -> ".join(f"{c}::{m}" for c, m in comp))
    folders = collections.defaultdict(set)
    for (c, m), deps in adj.items():
        for tc, t in deps:
            a, b = (c, m.split("::")[0]), (tc, t.split("::")[0])
            if a != b and a[1]:
                folders[a].add(b)
    for comp in cycles(folders):
        bad.append("folder circle: " + " -> ".join(f"{c}::{m}" for c, m in comp))
    for p in rs_files(ROOT, True):
        n = sum(1 for _ in open(p))
        if n > MAX_FILE_LINES:
            bad.append(f"{os.path.relpath(p, ROOT)}: {n} lines (at most {MAX_FILE_LINES})")
    for f, name, n in long_functions():
        if (f, name) not in FUNCTION_DEBT:
            bad.append(f"{f}: fn {name} is {n} lines (at most {MAX_FN_LINES})")
    if "-v" in sys.argv:
        for a in sorted(folders):
            names = sorted(b[1] if b[0] == a[0] else "engine::" + b[1] for b in folders[a])
            print(f"{a[0]}::{a[1]} -> {', '.join(names)}")
    for b in bad:
        print(b)
    print(f"architecture: {len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
