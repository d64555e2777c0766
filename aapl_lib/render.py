"""Executed notebooks rendered to HTML for reviewers (nbconvert)."""

from __future__ import annotations

from pathlib import Path

from .iorw import atomic_write_text


def notebook_to_html(notebook: str | Path, target: str | Path) -> Path:
    """Render an executed notebook (failed ones too: the error cell shows) to a standalone HTML file."""
    import warnings

    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    with warnings.catch_warnings():
        # scrapbook's scrap outputs have no HTML form; nbconvert warns about each one
        warnings.filterwarnings("ignore", message=".*is not able to be represented", category=UserWarning)
        body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return atomic_write_text(target, body)
