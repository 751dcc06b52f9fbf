"""The locks (`make lock`) match the pins people edit, and name a hash for every package.

`make`, CI and the Dockerfile install only from the locks, with `--require-hashes --no-deps`: a
pin changed in requirements*.txt without `make lock` would never be installed, so it fails here.
"""

import ast
import re
import sys
import tomllib
from importlib import metadata
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


def test_the_package_declares_what_its_modules_import():
    """A host project installs the package (`pip install .`) with only its declared dependencies
    and theirs: a module of events/ or sockets/ importing any other distribution at load time
    (outside a `try`) would fail there, though every test here passes."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {normal(Requirement(r).name) for r in project["dependencies"]}
    available = set(declared)
    for name in declared:  # and what they require, as pip installs them
        for requirement in map(Requirement, metadata.requires(name) or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                available.add(normal(requirement.name))
    providers = metadata.packages_distributions()
    modules = [*(ROOT / "events").rglob("*.py"), *(ROOT / "sockets").rglob("*.py")]
    undeclared = {
        f"{module} ({path.relative_to(ROOT)})"
        for path in modules
        if path.relative_to(ROOT) not in SERVER_ONLY
        for module in loaded_imports(path)
        if not {normal(d) for d in providers.get(module, [module])} & available
    }
    assert sorted(undeclared) == []


# Loaded only by the standalone server (relayman_project.server), which serves with daphne.
SERVER_ONLY = {Path("sockets/daphne_protocol.py")}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def loaded_imports(path: Path) -> set[str]:
    """Top-level names of the third-party modules `path` imports when it is loaded: at module
    level, not inside `try` (an optional import), not inside functions."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {n.split(".")[0] for n in names}
    return found - set(sys.stdlib_module_names) - {"events", "sockets"}
