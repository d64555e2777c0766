"""What an analyst expects of the package in their own Jupyter kernel and shell: importing it leaves their
plotting backend alone, the figures are still written, and the pipeline is a console command."""

from __future__ import annotations

from helpers import ROOT

# An analyst's kernel has its own backend (inline in Jupyter); "svg" stands in for it here. Importing the
# library and drawing every figure it draws must leave it as it was.


def test_the_environment_make_builds_is_the_lock():
    """`make run` / `make test` install requirements.lock: every package it pins for this platform is installed
    at exactly that version (a Makefile that installed from pyproject.toml's ranges would drift from it)."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    pinned, differ = 0, []
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # pinned for another platform
        pinned += 1
        (spec,) = requirement.specifier
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            installed = "not installed"
        if spec.operator != "==" or installed != spec.version:
            differ.append(f"{requirement.name}: lock {spec}, installed {installed}")
    assert pinned > 100 and not differ, "run `make test` (it installs the lock): " + "; ".join(differ)
