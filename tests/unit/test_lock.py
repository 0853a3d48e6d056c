"""The hashed lock file `make` installs from (issue 18): every runtime and `dev`
dependency pinned with its sha256, each pin inside pyproject.toml's range and past the
known CVEs, and the Makefile's venv target installing from it with --require-hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "dev.lock"

# the first release past each known vulnerability (the comments of pyproject.toml)
PAST_CVES = {"starlette": "0.49.1", "jinja2": "3.1.6", "python-multipart": "0.0.18",
             "h11": "0.16.0", "pymysql": "1.1.1", "cryptography": "44.0.1"}


def pins() -> dict[str, tuple[Version, int]]:
    """Each locked package: its version and how many hashes it carries."""
    text = LOCK.read_text(encoding="utf-8")
    found: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\;]+)", block)
        if head:
            hashes = len(re.findall(r"--hash=sha256:[0-9a-f]{64}", block))
            found[canonicalize_name(head[1])] = (Version(head[2]), hashes)
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in [*project["dependencies"],
                                     *project["optional-dependencies"]["dev"]]]


def test_every_locked_package_carries_a_sha256() -> None:
    locked = pins()
    assert len(locked) > 30
    assert [name for name, (_, hashes) in locked.items() if hashes == 0] == []


def test_every_runtime_and_dev_dependency_is_locked_inside_its_range() -> None:
    locked = pins()
    outside = [str(r) for r in declared()
               if canonicalize_name(r.name) not in locked
               or not r.specifier.contains(locked[canonicalize_name(r.name)][0],
                                           prereleases=True)]
    assert outside == []


@pytest.mark.parametrize("name", sorted(PAST_CVES))
def test_the_lock_picks_a_release_past_the_known_cves(name: str) -> None:
    version, _ = pins()[name]
    assert version >= Version(PAST_CVES[name])


def test_the_lock_holds_what_builds_the_project_without_the_network() -> None:
    assert {"pip", "setuptools", "wheel"} <= set(pins())


def test_make_venv_installs_from_the_lock_with_hashes_required() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^\$\(VENV\)/\.stamp:(.*?)\n\n", makefile, re.S | re.M)
    assert target is not None
    assert "$(LOCK)" in target[1].splitlines()[0] and "pyproject.toml" in target[1]
    assert "--require-hashes -r $(LOCK)" in target[1]
    assert "--no-deps" in target[1] and "LOCK := requirements/dev.lock" in makefile
    assert re.search(r"^lock:", makefile, re.M)
