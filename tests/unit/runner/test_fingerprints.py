"""A task's fingerprint follows its notebook's imports into aapl_lib's sub-packages, to any depth: editing a
module re-executes exactly the tasks whose notebooks reach it (library; the end-to-end proof is
tests/e2e/test_checkpoints.py::test_editing_an_aapl_lib_module_reruns_the_tasks_that_import_it)."""

from __future__ import annotations

import json
import shutil

import pytest

from aapl_lib.runner import import_closure
from aapl_lib.runner.fingerprints import code_hash, notebook_modules
from helpers import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_imports_are_resolved_to_modules_and_packages():
    found = import_closure.imported_modules
    assert found("import aapl_lib.modeling.significance") == {"modeling.significance"}
    assert found("from aapl_lib.modeling import significance, training as t") == {
        "modeling.significance",
        "modeling.training",
    }
    assert found("from aapl_lib.modeling.metrics import rmse") == {"modeling.metrics"}
    assert found("from aapl_lib import modeling") == {"modeling"}  # the package: its __init__
    assert found("from .metrics import rmse", current="modeling.significance") == {"modeling.metrics"}
    assert found("from ..io import iorw", current="modeling.significance") == {"io.iorw"}
    assert found("import pandas\nfrom aapl_lib.nothing import x") == set()
    assert found("this is not python (") == set()


def test_a_notebook_depends_on_what_its_imports_import_with_their_packages():
    training = notebook_modules(ROOT / "notebooks" / "04_model_training.ipynb")
    # 04 imports modeling.walkforward, which imports modeling.significance: two levels down
    assert "modeling.walkforward" in training and "modeling.significance" in training
    assert {"", "modeling", "io"} <= set(training)  # the __init__ files that run on the way
    ingestion = notebook_modules(ROOT / "notebooks" / "01_data_ingestion.ipynb")
    assert not [m for m in ingestion if m.split(".")[0] in {"modeling", "promotion", "reporting", "runner", "views"}]


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of aapl_lib that the import closure reads instead of the real one."""
    copy = tmp_path / "aapl_lib"
    shutil.copytree(ROOT / "aapl_lib", copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(import_closure, "PACKAGE_DIR", copy)
    import_closure._module_imports.cache_clear()
    yield copy
    import_closure._module_imports.cache_clear()


def _hashes() -> dict[str, str]:
    import_closure._module_imports.cache_clear()
    return {nb.name[:2]: code_hash(notebook_modules(nb)) for nb in NOTEBOOKS}


def test_editing_a_module_two_imports_deep_changes_exactly_the_notebooks_that_reach_it(package_copy):
    before = _hashes()
    module = package_copy / "modeling" / "significance.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    after = _hashes()
    assert sorted(n for n in before if before[n] != after[n]) == ["04", "05"]


def test_a_new_import_is_followed_into_the_module_it_names(package_copy):
    before = _hashes()
    reporting_init = package_copy / "reporting" / "__init__.py"
    reporting_init.write_text(reporting_init.read_text() + "\nfrom aapl_lib.modeling import significance\n")
    middle = _hashes()
    assert sorted(n for n in before if before[n] != middle[n]) == ["06"]  # its package __init__ changed
    module = package_copy / "modeling" / "significance.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    assert sorted(n for n in middle if middle[n] != _hashes()[n]) == ["04", "05", "06"]


def test_the_parsed_imports_cache_survives_a_damaged_file_and_is_rewritten(tmp_path, monkeypatch):
    store = tmp_path / "imports.json"
    store.write_text('{"half-writ')  # a crash mid-write, or a hand edit
    monkeypatch.setattr(import_closure, "_PARSED", {})
    monkeypatch.setattr(import_closure, "_STORE", {"path": None, "changed": False})
    import_closure._module_imports.cache_clear()
    import_closure.use_store(store)
    nb = ROOT / "notebooks" / "04_model_training.ipynb"
    assert "modeling.significance" in notebook_modules(nb)
    import_closure.save_store()
    saved = json.loads(store.read_text())
    assert ["modeling.metrics"] in [v for v in saved.values()]  # significance's own imports, by content
    import_closure._module_imports.cache_clear()


def test_package_versions_are_cached_until_a_package_folder_changes(tmp_path, monkeypatch):
    """A rerun reads the key packages' versions from outputs/cache, not from every installed package's
    metadata, and reads them afresh once anything is installed, upgraded or removed."""
    import os
    import sys

    from aapl_lib.store.manifest import package_versions

    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    cache = tmp_path / "cache" / "environment.json"
    fresh = package_versions(cache)
    assert fresh["papermill"] not in ("", "not installed") and cache.is_file()
    stored = json.loads(cache.read_text())
    stored["packages"]["papermill"] = "read from the cache"
    cache.write_text(json.dumps(stored))
    assert package_versions(cache)["papermill"] == "read from the cache"
    (site / "newpkg-1.0.dist-info").mkdir()  # an install changes the folder
    os.utime(site, ns=(site.stat().st_atime_ns, site.stat().st_mtime_ns + 10**9))
    assert package_versions(cache) == fresh
    cache.write_text("{damaged")
    assert package_versions(cache) == fresh


def test_a_package_added_to_the_key_list_is_not_missing_from_an_older_cache(tmp_path):
    """A cache written before a key package (skops) was listed does not hide it from the manifest."""
    from aapl_lib.store.manifest import KEY_PACKAGES, package_versions

    cache = tmp_path / "environment.json"
    fresh = package_versions(cache)
    assert "skops" in KEY_PACKAGES and fresh["skops"] not in ("", "not installed")
    stored = json.loads(cache.read_text())
    stored["key"] = [k for k in stored["key"] if k != "skops"]  # as the cache of the list without skops was
    del stored["packages"]["skops"]
    cache.write_text(json.dumps(stored))
    assert package_versions(cache) == fresh
