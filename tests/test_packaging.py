"""What setup.cfg promises and what CI checks stay one and the same.

.ci/oldest installs .ci/oldest-requirements.txt on the oldest Python and runs the suite: that
only tests the promised floors while the file pins exactly them, for every requirement.
"""
import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def floors(lines):
    """{name: floor} from requirement lines like 'numpy>=1.22' (extras and markers dropped)."""
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][0-9.]*)", line)
            assert m, f"setup.cfg: requirement without a '>=' floor: {line!r}"
            out[m.group(1).lower()] = m.group(3)
    return out


def setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_oldest_requirements_pin_exactly_the_declared_floors():
    cfg = setup_cfg()
    declared = floors(cfg["options"]["install_requires"].splitlines())
    declared.update(floors(cfg["options.extras_require"]["test"].splitlines()))
    pinned = {}
    for line in (ROOT / ".ci" / "oldest-requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f".ci/oldest-requirements.txt: not an exact pin: {line!r}"
            pinned[name.strip().lower()] = version.strip()
    assert pinned == declared


def test_the_oldest_job_runs_the_oldest_python():
    major, minor = re.fullmatch(r">=\s*(\d+)\.(\d+)", setup_cfg()["options"]["python_requires"].strip()).groups()
    script = (ROOT / ".ci" / "oldest").read_text()
    assert f"sys.version_info[:2] == ({major}, {minor})" in script
    assert f"python{major}.{minor}" in script
    assert "bash .ci/oldest" in (ROOT / ".ci" / "run").read_text()


def test_floors_reader_refuses_an_unbounded_requirement():
    with pytest.raises(AssertionError, match="numpy"):
        floors(["numpy"])
