"""The mathematics of the documents is typeset, and every equation is well formed.

docs/derivation.md and docs/gradcheck.md write their mathematics as GitHub renders it: display
equations in ```` ```math ```` blocks (labelled with ``\\tag{C1}``), inline ones between single
dollars. GitHub's MathJax shows a broken equation as red source text, so this checks each span
before a reader sees it:

- the dollars of a line pair up; an inline span does not start or end with a space, no
  letter or digit touches its outside (GitHub would then not read it as math), and it holds no
  backslash before punctuation (``\\,``, ``\\{``: Markdown may take it as an escape and drop
  the backslash; such equations go in a display block);
- braces balance, ``\\left``/``\\right`` and ``\\begin``/``\\end`` pair up, ``^`` and ``_`` have an
  argument and are not doubled on one atom, commands that take arguments get them, and every
  command is one this checker knows (a misspelt ``\\frca`` fails here instead of on the page);
- ``&`` and ``\\\\`` appear only inside an environment, ``\\tag`` only in a display block.

And no equation is left in a code block: a ``text`` block holds quoted output, not formulas.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "derivation.md", ROOT / "docs" / "gradcheck.md"]

# command -> number of arguments it requires
ARITY = {"frac": 2, "dfrac": 2, "tfrac": 2, "sqrt": 1, "mathrm": 1, "mathbf": 1, "mathsf": 1,
         "mathcal": 1, "mathbb": 1, "mathit": 1, "boldsymbol": 1, "operatorname": 1, "text": 1,
         "textrm": 1, "tag": 1, "overline": 1, "underline": 1, "bar": 1, "hat": 1, "tilde": 1,
         "vec": 1, "underbrace": 1, "overbrace": 1, "begin": 1, "end": 1, "pmod": 1}
SYMBOLS = set("""
sum prod partial cdot odot otimes times quad qquad le ge leq geq ne neq in notin to mapsto
approx sim propto infty log exp max min sin cos pi omega Omega theta varepsilon epsilon lambda
Lambda Sigma sigma mu delta Delta alpha beta gamma eta nabla lfloor rfloor lceil rceil bmod mod
ldots cdots dots vdots ddots langle rangle lvert rvert lVert rVert vert Vert mid equiv iff
Rightarrow Leftarrow rightarrow leftarrow implies big Big bigl bigr Bigl Bigr ell circ star ast
pm mp dagger top perp forall exists quad left right colon ldotp Re Im det tanh
lbrace rbrace textstyle displaystyle circledast star uparrow downarrow
""".split())
ENVIRONMENTS = {"aligned", "array", "matrix", "pmatrix", "bmatrix", "cases"}
TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}^_&]|\s+|.", re.S)
DELIMITERS = set("()[]|./") | {r"\{", r"\}", r"\lfloor", r"\rfloor", r"\lceil", r"\rceil",
                                r"\langle", r"\rangle", r"\lbrace", r"\rbrace", r"\lvert", r"\rvert", r"\vert", r"\Vert"}


class Span(NamedTuple):
    doc: str
    line: int
    display: bool
    body: str


def check_tex(body: str, display: bool) -> List[str]:
    """What is wrong with one span of TeX, as a list of messages (empty when it is well formed)."""
    problems: List[str] = []
    tokens = [t for t in TOKEN.findall(body) if not t.isspace()]
    if not tokens:
        return ["empty equation"]
    stack: List[tuple] = []         # ("{" | "script" | "left" | "env:NAME", scripts to restore)
    scripts = set()                 # ^ and _ already attached to the current atom
    i = 0

    def argument(k: int) -> int:
        """Index after the argument starting at token k, or -1 when there is none."""
        if k >= len(tokens) or tokens[k] in ("}", "^", "_", "&"):
            return -1
        if tokens[k] != "{":
            return k + 1
        depth = 0
        for m in range(k, len(tokens)):
            depth += {"{": 1, "}": -1}.get(tokens[m], 0)
            if depth == 0:
                return m + 1
        return -1

    while i < len(tokens):
        t = tokens[i]
        if t == "{":
            stack.append(("{", None))
            scripts = set()
        elif t == "}":
            if not stack or stack[-1][0] not in ("{", "script"):
                problems.append("unbalanced '}'" if not stack else f"'}}' closes {stack[-1][0]}")
                return problems
            kind, saved = stack.pop()
            scripts = saved if kind == "script" else set()
        elif t in ("^", "_"):
            if t in scripts:
                problems.append(f"double {'superscript' if t == '^' else 'subscript'}")
            scripts.add(t)
            end = argument(i + 1)
            if end < 0:
                problems.append(f"'{t}' without an argument")
                return problems
            if tokens[i + 1] == "{":
                if end == i + 3:
                    problems.append(f"empty '{t}{{}}'")
                stack.append(("script", scripts))
                scripts = set()
                i += 1                       # the group's content is read token by token
            else:
                i = end - 1                  # a one-token argument
        elif t == "&" or t == "\\\\":
            if not any(kind.startswith("env:") for kind, _ in stack):
                problems.append(f"'{t}' outside an environment")
            scripts = set()
        elif t.startswith("\\") and t[1:].isalpha():
            name = t[1:]
            if name == "left":
                if i + 1 >= len(tokens) or tokens[i + 1] not in DELIMITERS:
                    problems.append(r"\left without a delimiter")
                    return problems
                stack.append(("left", None))
                i += 1
            elif name == "right":
                if not stack or stack[-1][0] != "left":
                    problems.append(r"\right without its \left")
                    return problems
                if i + 1 >= len(tokens) or tokens[i + 1] not in DELIMITERS:
                    problems.append(r"\right without a delimiter")
                stack.pop()
                i += 1
            elif name in ("begin", "end"):
                m = re.match(r"\{(\w+)\}", "".join(tokens[i + 1:i + 2 + 20]))
                env = m.group(1) if m else ""
                if env not in ENVIRONMENTS:
                    problems.append(f"\\{name}{{{env}}}: unknown environment")
                    return problems
                if name == "begin":
                    stack.append(("env:" + env, None))
                elif not stack or stack[-1][0] != "env:" + env:
                    problems.append(f"\\end{{{env}}} closes {stack[-1][0] if stack else 'nothing'}")
                    return problems
                else:
                    stack.pop()
                i += 2 + len(env)  # '{', the name's letters, '}'
            elif name in ARITY:
                if name == "tag" and not display:
                    problems.append(r"\tag in an inline equation")
                k = i + 1
                for _ in range(ARITY[name]):
                    k = argument(k)
                    if k < 0:
                        problems.append(f"\\{name} needs {ARITY[name]} argument(s)")
                        return problems
                if name in ("text", "mathrm", "operatorname", "tag", "textrm"):
                    i = k - 1      # their argument is text, not TeX to check
                scripts = set()
            elif name not in SYMBOLS:
                problems.append(f"unknown command \\{name}")
            else:
                scripts = set()
        else:
            scripts = set()
        i += 1
    if stack:
        problems.append(f"unclosed {stack[-1][0]}")
    return problems


def _strip_code(line: str) -> str:
    """The line with inline code spans blanked (a dollar in code is not math)."""
    return re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), line)


INLINE = re.compile(r"(?<!\\)\$(?P<body>[^$]+?)(?<!\\)\$")


def inline_problems(line: str) -> Iterator[tuple]:
    """(body, problems) for each inline span of a line, and a span for an unpaired dollar."""
    text = _strip_code(line)
    dollars = [m.start() for m in re.finditer(r"(?<!\\)\$", text)]
    if "$$" in text:
        yield text, ["'$$' inside a line: display math goes in a ```math block"]
        return
    if len(dollars) % 2:
        yield text, ["unpaired '$'"]
        return
    for m in INLINE.finditer(text):
        body = m.group("body")
        problems = []
        if body != body.strip():
            problems.append("space just inside '$'")
        before = text[m.start() - 1] if m.start() else " "
        after = text[m.end()] if m.end() < len(text) else " "
        if before.isalnum() or after.isalnum():
            problems.append("a letter or digit touches the '$' outside")
        if re.search(r"\\[!-/:-@\[-`{-~]", body):
            problems.append("a backslash before punctuation ('\\,', '\\{', '\\\\') in inline math: "
                            "Markdown may read it as an escape; use a ```math block")
        yield body, problems + check_tex(body, display=False)


def spans(doc: Path) -> Iterator[tuple]:
    """(Span, problems) for every math span of a markdown file."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("```"):
            lang, start, body = stripped[3:].strip(), i, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            if lang == "math":
                text = "\n".join(body)
                yield Span(doc.name, start + 1, True, text), check_tex(text, display=True)
        elif stripped == "$$":
            start, body = i, []
            i += 1
            while i < len(lines) and lines[i].strip() != "$$":
                body.append(lines[i])
                i += 1
            text = "\n".join(body)
            yield Span(doc.name, start + 1, True, text), (["'$$' never closed"] if i == len(lines)
                                                         else check_tex(text, display=True))
        else:
            for body, problems in inline_problems(lines[i]):
                yield Span(doc.name, i + 1, False, body), problems
        i += 1


def text_blocks(doc: Path) -> Iterator[tuple]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip().startswith("```"):
            lang, start, body = lines[i].strip()[3:].strip(), i, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            if lang == "text":
                yield start + 1, "\n".join(body)
        i += 1


# -- the documents ------------------------------------------------------------------------

@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_equation_is_well_formed(doc):
    found = list(spans(doc))
    assert sum(s.display for s, _ in found) >= 5, f"{doc.name}: expected display equations"
    bad = [f"{s.doc}:{s.line}: {'$$' if s.display else '$'}{s.body[:80]}: {'; '.join(p)}"
           for s, p in found if p]
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_equation_is_left_in_a_code_block(doc):
    for line, body in text_blocks(doc):
        for marker in ("sum_", "partial", " = ", "^T", "conj(", "->"):
            assert marker not in body, \
                f"{doc.name}:{line}: a text block holds {marker!r}; write the formula as math"


def test_the_equations_keep_their_labels():
    text = DOCS[0].read_text(encoding="utf-8")
    for label in ("C1", "C2", "C3", "C4", "B1", "B2", "B3", "B4"):
        assert f"\\tag{{{label}}}" in text, f"derivation.md: no equation tagged ({label})"


# -- the checker itself can fail ----------------------------------------------------------

@pytest.mark.parametrize("body, display, expected", [
    (r"{a + b", True, "unclosed"),
    (r"a}", True, "unbalanced"),
    (r"x_", True, "without an argument"),
    (r"x_{}", True, "empty"),
    (r"\frca{a}{b}", True, "unknown command"),
    (r"a_b_c", True, "double subscript"),
    (r"\left( x", True, "unclosed left"),
    (r"x \right)", True, r"\right without"),
    (r"\begin{aligned} x \end{array}", True, "closes"),
    (r"\begin{align} x \end{align}", True, "unknown environment"),
    (r"a & b", True, "outside an environment"),
    (r"\frac{a}", True, "needs 2"),
    (r"y \tag{C1}", False, "inline"),
    ("", True, "empty"),
])
def test_the_checker_rejects_a_broken_equation(body, display, expected):
    problems = check_tex(body, display)
    assert any(expected in p for p in problems), (body, problems)


def test_the_checker_accepts_what_the_documents_use():
    for body in (r"y = \operatorname{crop}_{d_{out}}\bigl(\operatorname{irfft}(R \odot U, n)\bigr) + b \tag{C1}",
                 r"\begin{aligned} a &= b \\ c &= \sum_{i} x_i^2 \end{aligned}",
                 r"\left\lfloor \frac{n}{2} \right\rfloor + 1", r"x^{(i)}_j", r"\{ +1, -1 \}"):
        assert check_tex(body, display=True) == [], body


@pytest.mark.parametrize("line, expected", [
    ("cost $x$ and $y", "unpaired"),
    ("a $ x$ b", "space just inside"),
    ("the $x$s", "touches"),
    ("inline $$x$$ display", "'$$' inside a line"),
    ("bad $x_$ here", "without an argument"),
    (r"thin $a\,b$ space", "backslash before punctuation"),
    (r"set $\{1, 2\}$ here", "backslash before punctuation"),
])
def test_inline_rules_fail(line, expected):
    problems = [p for _, ps in inline_problems(line) for p in ps]
    assert any(expected in p for p in problems), (line, problems)


def test_dollars_in_code_are_not_math():
    assert list(inline_problems("`echo $HOME` and $x$")) == [("x", [])]


def test_a_text_block_with_a_formula_is_caught(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("```text\ndx = dy W^T\n```\n")
    ((line, body),) = list(text_blocks(doc))
    assert " = " in body and "^T" in body
