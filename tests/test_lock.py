"""The locks (`make lock`) match the pins people edit, and name a hash for every package.

`make`, CI and the Dockerfile install only from the locks, with `--require-hashes --no-deps`: a
pin changed in requirements*.txt without `make lock` would never be installed, so it fails here.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#\\]+)", re.MULTILINE)


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file and of those it includes with -r."""
    found = {}
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            found |= pins(path.parent / line.split(maxsplit=1)[1])
    for name, version in PIN.findall(path.read_text()):
        found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


@pytest.mark.parametrize(
    "requirements, lock",
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_the_lock_holds_every_pin_at_its_version(requirements, lock):
    locked = pins(ROOT / lock)
    assert {
        name: version
        for name, version in pins(ROOT / requirements).items()
        if locked.get(name) != version
    } == {}, f"run `make lock`: {lock} is older than {requirements}"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_package_has_its_hashes(lock):
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text().split("\n\n", 1)[-1])
    unhashed = [entry.split()[0] for entry in entries if "==" in entry and "--hash=" not in entry]
    assert unhashed == []


def test_the_packages_ranges_admit_the_locked_versions_it_is_tested_with():
    locked = pins(ROOT / "requirements.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    outside = [
        f"{requirement.name} {locked[requirement.name.lower()]}"
        for requirement in map(Requirement, project["dependencies"])
        if locked[requirement.name.lower()] not in requirement.specifier
    ]
    assert outside == []
