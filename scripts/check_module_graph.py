#!/usr/bin/env python3
"""Checks that Package.swift declares exactly the ClipTrace modules each target imports.

An import that is not declared builds only by luck (the module happens to be built first); a declared module
that is never imported is a false edge in the graph the README draws. Only the package's own modules are
checked: which product an external module comes from is SwiftPM's business. Exit status 1 lists each mismatch.
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
manifest = (root / "Package.swift").read_text()

# Each target declaration: kind, name, and the text up to the next declaration.
declarations = list(re.finditer(r"\.(target|testTarget|executableTarget|systemLibrary)\(\s*name:\s*\"([^\"]+)\"", manifest))
targets = {}
for index, match in enumerate(declarations):
    kind, name = match.group(1), match.group(2)
    end = declarations[index + 1].start() if index + 1 < len(declarations) else len(manifest)
    body = manifest[match.end():end]
    path_match = re.search(r"path:\s*\"([^\"]+)\"", body)
    deps_match = re.search(r"dependencies:\s*\[(.*?)\]\s*[,)]", body, re.S)
    # Every quoted name in the list: products' and packages' names never match a local target's.
    dependencies = set(re.findall(r"\"([^\"]+)\"", deps_match.group(1))) if deps_match else set()
    if path_match:
        folder = root / path_match.group(1)
    else:
        folder = root / ("Tests" if kind == "testTarget" else "Sources") / name
    targets[name] = (kind, folder, dependencies)

local = set(targets)
problems = []
for name, (kind, folder, dependencies) in sorted(targets.items()):
    if kind == "systemLibrary":
        continue
    imported = set()
    for source in folder.rglob("*.swift"):
        for line in source.read_text().splitlines():
            found = re.match(r"\s*(?:@\w+\s+)*(?:(?:public|package|internal|private|fileprivate)\s+)?import\s+(?:(?:struct|class|enum|func|var|protocol)\s+)?(\w+)", line)
            if found and found.group(1) in local:
                imported.add(found.group(1))
    declared = dependencies & local
    for module in sorted(imported - declared):
        problems.append(f"{name} imports {module} but Package.swift does not declare it")
    for module in sorted(declared - imported):
        problems.append(f"{name} declares {module} but never imports it")

for problem in problems:
    print(problem)
if problems:
    sys.exit(1)
print(f"module graph: {len(targets)} targets, every import declared and every declared module imported")
