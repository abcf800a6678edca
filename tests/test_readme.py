"""The README's first example runs and prints what the README says it prints."""
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_prints_what_it_claims():
    text = README.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    diff, count, errors = out.getvalue().strip().splitlines()
    assert float(diff) < 1e-12                        # "a difference around 1e-16"
    assert int(count) == 14                           # "14"
    errs = eval(errors)                               # "{'dx': ..., 'dr': ..., 'db': ...}, all < 1e-6"
    assert set(errs) == {"dx", "dr", "db"} and max(errs.values()) < 1e-6
    assert "prints a difference around 1e-16, `14`" in text


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    assert "minicirc train" in first_block and "pytest" in first_block
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pytest -q" in first_block and "python -m pytest -q" in ci
