"""The documents cannot rot: their code runs or is the examples' code, their links resolve.

For docs/derivation.md and docs/gradcheck.md:

- Every fenced code block says what it is. A ``python`` block is either quoted from an example,
  announced by the line ``<!-- from examples/NAME.py [docs:REGION] -->`` just above it, and
  then equal to the region between ``# [docs:REGION]`` and ``# [/docs:REGION]`` in that example
  (dedented); or it is executed here and must run without error. A ``bash`` block may only run
  scripts that exist. A ``text`` block is quoted output; a ``math`` block is a display equation
  (checked by tests/test_docs_math.py), not code.
- Every relative link to a ``.py`` file points to a file that exists, and a link whose text
  is a name in backticks (``[`Circulant.backward`](../minicirc/layers/circulant.py)``) names a
  class, function, method or assignment that the file defines (parsed with ``ast``), so that
  the function an equation points to cannot silently disappear. Equation labels written after
  such a link (``eq. (C2)``, ``eqs. (C3), (C4)``) must appear in the linked file.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Set

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "derivation.md", ROOT / "docs" / "gradcheck.md"]
LANGUAGES = {"python", "bash", "text", "math"}

MARKER = re.compile(r"^<!-- from (?P<file>examples/[\w.-]+\.py) \[docs:(?P<region>[\w-]+)\] -->$")
LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")
NAME = re.compile(r"^`(?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)`$")
LABEL = re.compile(r"\((?P<label>[A-Z]\d+)\)")


class Block(NamedTuple):
    doc: Path
    line: int            # 1-based line of the opening fence
    lang: str
    body: str
    marker: Optional[re.Match]


def blocks(doc: Path) -> Iterator[Block]:
    """The fenced code blocks of a markdown file, with the marker line above each, if any."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("```"):
            indent = len(lines[i]) - len(lines[i].lstrip())
            lang = stripped[3:].strip()
            start = i
            i += 1
            body = []
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
                i += 1
            if i == len(lines):
                raise AssertionError(f"{doc.name}:{start + 1}: code block never closed")
            above = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()), "")
            yield Block(doc, start + 1, lang, "\n".join(body), MARKER.match(above))
        i += 1


def region(path: Path, name: str) -> str:
    """The lines between ``# [docs:name]`` and ``# [/docs:name]`` in ``path``, dedented."""
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, l in enumerate(lines) if l.strip() == f"# [docs:{name}]"]
    ends = [i for i, l in enumerate(lines) if l.strip() == f"# [/docs:{name}]"]
    assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], \
        f"{path.name}: need exactly one '# [docs:{name}]' ... '# [/docs:{name}]' pair"
    return textwrap.dedent("\n".join(lines[starts[0] + 1: ends[0]])).strip("\n")


def definitions(path: Path) -> Set[str]:
    """Top-level names a Python file defines, and ``Class.member`` for members of its classes."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: Set[str] = set()

    def targets(node: ast.AST) -> List[str]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return [node.name]
        if isinstance(node, ast.Assign):
            return [t.id for t in node.targets if isinstance(t, ast.Name)]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            return [node.target.id]
        return []

    for node in tree.body:
        names.update(targets(node))
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                names.update(f"{node.name}.{m}" for m in targets(member))
    return names


def code_links(doc: Path) -> Iterator[Dict[str, object]]:
    """Each relative link to a .py file: its line, text, resolved path, and labels after it."""
    for lineno, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        matches = list(LINK.finditer(line))
        for k, m in enumerate(matches):
            target = m.group("target").split("#")[0]
            if "://" in target or not target.endswith(".py"):
                continue
            tail = line[m.end(): matches[k + 1].start() if k + 1 < len(matches) else len(line)]
            labels = []
            if re.match(r"^\s*eqs?\.", tail):
                labels = LABEL.findall(tail)
            yield {"line": lineno, "text": m.group("text"), "path": (doc.parent / target).resolve(),
                   "target": target, "anchor": m.group("target").partition("#")[2], "labels": labels}


def link_problems(doc: Path) -> List[str]:
    problems = []
    for link in code_links(doc):
        where = f"{doc.name}:{link['line']}: [{link['text']}]({link['target']})"
        path = link["path"]
        if not path.is_file():
            problems.append(f"{where}: no such file")
            continue
        name = NAME.match(str(link["text"]))
        if name and name.group("name") not in definitions(path):
            problems.append(f"{where}: {path.name} defines no {name.group('name')}")
        source = path.read_text(encoding="utf-8")
        for label in link["labels"]:
            if f"({label})" not in source:
                problems.append(f"{where}: label ({label}) does not appear in {path.name}")
    return problems


# -- the documents ------------------------------------------------------------------------

@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_code_block_is_labelled(doc):
    found = list(blocks(doc))
    assert found, f"{doc.name} has no code blocks"
    for b in found:
        assert b.lang in LANGUAGES, f"{doc.name}:{b.line}: code block language {b.lang!r}, " \
                                    f"expected one of {sorted(LANGUAGES)}"
        if b.marker:
            assert b.lang == "python", f"{doc.name}:{b.line}: a quoted example must be a python block"


def test_documents_exist():
    for doc in DOCS:
        assert doc.is_file(), f"{doc} is missing"


# Collected at import; a missing document fails test_documents_exist, not the collection.
QUOTED = [b for doc in DOCS if doc.is_file() for b in blocks(doc) if b.marker]
EXECUTED = [b for doc in DOCS if doc.is_file() for b in blocks(doc) if b.lang == "python" and not b.marker]


@pytest.mark.parametrize("block", QUOTED, ids=lambda b: f"{b.doc.name}:{b.line}")
def test_quoted_block_equals_example_region(block):
    path = ROOT / block.marker.group("file")
    assert path.is_file(), f"{block.doc.name}:{block.line}: {path} does not exist"
    expected = region(path, block.marker.group("region"))
    assert block.body.strip("\n") == expected, (
        f"{block.doc.name}:{block.line} differs from {path.name} [docs:{block.marker.group('region')}]; "
        f"copy the region into the document again")


@pytest.mark.parametrize("block", EXECUTED, ids=lambda b: f"{b.doc.name}:{b.line}")
def test_executed_block_runs(block):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", block.body], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{block.doc.name}:{block.line} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_bash_blocks_run_scripts_that_exist(doc):
    for b in blocks(doc):
        if b.lang != "bash":
            continue
        for line in b.body.splitlines():
            m = re.match(r"^\s*python3? (?P<script>\S+\.py)", line)
            if m:
                assert (ROOT / m.group("script")).is_file(), f"{doc.name}:{b.line}: {m.group('script')} missing"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_code_links_resolve(doc):
    assert list(code_links(doc)), f"{doc.name} links to no code"
    assert link_problems(doc) == []


def test_derivation_points_every_circulant_equation_to_its_code():
    text = DOCS[0].read_text(encoding="utf-8")
    linked = {label for link in code_links(DOCS[0]) if link["path"].name == "circulant.py"
              for label in link["labels"]}
    assert {"C1", "C2", "C3", "C4"} <= linked, f"labels linked to circulant.py: {sorted(linked)}"
    for name in ("Dense.forward", "Dense.backward", "SoftmaxCrossEntropy.forward",
                 "SoftmaxCrossEntropy.backward", "Circulant.forward", "Circulant.backward"):
        assert f"[`{name}`](" in text, f"derivation.md never links {name}"


def test_line_links_land_on_their_equation():
    """A link to a line (``conv2d.py#L89``) followed by ``eq. (K2)`` points at a line that says
    (K2): the line numbers move when the code does, and this says so."""
    checked = 0
    for link in code_links(DOCS[0]):
        line = re.fullmatch(r"L(\d+)", str(link["anchor"]))
        if not line or not link["labels"]:
            continue
        source = link["path"].read_text(encoding="utf-8").splitlines()
        n = int(line.group(1))
        assert n <= len(source), f"derivation.md:{link['line']}: {link['target']}#L{n} is past the end of the file"
        for label in link["labels"]:
            assert f"({label})" in source[n - 1], (f"derivation.md:{link['line']}: {link['target']}#L{n} is "
                                                   f"{source[n - 1].strip()!r}, which is not eq. ({label})")
        checked += 1
    assert checked >= 8, f"only {checked} line links with an equation label"


# -- the checks themselves can fail -------------------------------------------------------

def test_link_checker_catches_a_vanished_function(tmp_path):
    doc = tmp_path / "docs" / "x.md"
    doc.parent.mkdir()
    (tmp_path / "m.py").write_text("class A:\n    def f(self):\n        pass  # eq. (C1)\n")
    doc.write_text("[`A.f`](../m.py) eq. (C1)\n[`A.g`](../m.py)\n[`A.f`](../m.py) eq. (C9)\n"
                   "[`h`](../m.py)\n[m](../gone.py)\n")
    problems = link_problems(doc)
    assert len(problems) == 4, problems
    assert any("A.g" in p for p in problems) and any("(C9)" in p for p in problems)
    assert any("no h" in p for p in problems) and any("no such file" in p for p in problems)


def test_region_comparison_sees_a_changed_line(tmp_path):
    ex = tmp_path / "ex.py"
    ex.write_text("x = 1\n    # [docs:a]\n    y = 2\n    # [/docs:a]\n")
    assert region(ex, "a") == "y = 2"
    doc = tmp_path / "d.md"
    doc.write_text("<!-- from examples/ex.py [docs:a] -->\n```python\ny = 3\n```\n")
    (b,) = blocks(doc)
    assert b.marker and b.marker.group("region") == "a" and b.body != region(ex, "a")
