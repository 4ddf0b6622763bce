#!/usr/bin/env python3
"""Checks the shape of src/ (docs/design.md, "Layers"):
  - layers only look down: common <- {gemm, transport} <- ops <- the rest;
    gemm and transport never include each other (the MPI add-on's
    transport includes addon.h, its table of libtpfuse's internals);
  - no include circles among the headers;
  - no call circles among the source files (from the symbols their objects
    define and use, read with nm).
Usage: check_layers.py SOURCE_DIR BUILD_DIR. Prints what it finds; exits 1
on any violation."""
import collections
import glob
import os
import re
import subprocess
import sys

LAYER = {"common": 0, "gemm": 1, "transport": 1, "ops": 2}
# The MPI add-on's transport reaches libtpfuse's internals through the one
# internal entry (addon.h), a table handed over at run time, not a call up.
ALLOWED = {("transport/mpi.c", "addon.h")}


def layer_of(path):
    top = path.split(os.sep)[0]
    return LAYER.get(top, 3)  # registry, api_*, internal, addon: the top


def cycles(graph):
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def includes(src):
    """file -> files of src/ it includes (paths relative to src/)."""
    edges = collections.defaultdict(set)
    for path in glob.glob(os.path.join(src, "**", "*.[ch]"), recursive=True):
        rel = os.path.relpath(path, src)
        for line in open(path, encoding="utf-8"):
            m = re.match(r'\s*#include "([^"]+)"', line)
            if not m:
                continue
            for base in (os.path.dirname(rel), ""):
                target = os.path.normpath(os.path.join(base, m.group(1)))
                if os.path.exists(os.path.join(src, target)):
                    edges[rel].add(target)
                    break
    return edges


def calls(build):
    """source file -> source files whose functions or data it uses."""
    defined, used = {}, collections.defaultdict(set)
    for obj in glob.glob(os.path.join(build, "CMakeFiles", "*.dir", "src", "**", "*.o"), recursive=True):
        name = re.sub(r".*/src/", "", obj)[: -len(".c.o")]
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBRC":
                defined[parts[2]] = name
            elif len(parts) == 2 and parts[0] == "U":
                used[name].add(parts[1])
    graph = collections.defaultdict(set)
    for name, symbols in used.items():
        for s in symbols:
            if s in defined and defined[s] != name:
                graph[name].add(defined[s])
    return graph, len(defined)


def main():
    src, build = os.path.join(sys.argv[1], "src"), sys.argv[2]
    bad = 0
    edges = includes(src)
    for f, targets in sorted(edges.items()):
        for t in sorted(targets):
            lf, lt = layer_of(f), layer_of(t)
            sideways = lf == lt == 1 and f.split(os.sep)[0] != t.split(os.sep)[0]
            if (lt > lf or sideways) and (f, t) not in ALLOWED:
                print(f"layer: {f} includes {t}")
                bad += 1
    headers = {f: {t for t in ts if t.endswith(".h")} for f, ts in edges.items() if f.endswith(".h")}
    for c in cycles(headers):
        print("include circle:", " -> ".join(c))
        bad += 1
    graph, symbols = calls(build)
    if symbols == 0:
        print(f"no objects under {build}: build first")
        return 1
    for c in cycles(graph):
        print("call circle:", " <-> ".join(c))
        bad += 1
    print(f"{len(edges)} files, {symbols} symbols: {'PASS' if bad == 0 else f'{bad} violations'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
