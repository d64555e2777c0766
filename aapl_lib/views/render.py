"""Executed notebooks rendered to HTML for reviewers (nbconvert), in two flavours: full, and report mode with
the code hidden (papermill's ``--report-mode`` idea). A failed notebook renders too, with its error in a
banner at the top."""

from __future__ import annotations

import html
import re
from pathlib import Path

from aapl_lib.io.iorw import atomic_write_text


def first_error(nb) -> tuple[int, str, str] | None:
    """``(execution count, ename, evalue)`` of the first error output, if any."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return cell.get("execution_count") or 0, output.get("ename", ""), output.get("evalue", "")
    return None


def notebook_to_html(notebook: str | Path, target: str | Path, report_mode: bool = False) -> Path:
    """Render an executed notebook to a standalone HTML file (failed ones too: the error leads the page)."""
    import warnings

    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    exporter = HTMLExporter(template_name="lab")
    if report_mode:
        exporter.exclude_input = True
        exporter.exclude_input_prompt = True
        exporter.exclude_output_prompt = True
    with warnings.catch_warnings():
        # scrapbook's scrap outputs have no HTML form; nbconvert warns about each one
        warnings.filterwarnings("ignore", message=".*is not able to be represented", category=UserWarning)
        body, _ = exporter.from_notebook_node(nb)
    error = first_error(nb)
    if error is not None:
        count, ename, evalue = error
        banner = (
            f'<div id="failure-banner" style="background:#fee2e2;color:#991b1b;border:2px solid #dc2626;'
            f'padding:12px 16px;margin:12px;font-family:system-ui,sans-serif">'
            f"<strong>This notebook failed</strong> at cell [{count}]: <code>{html.escape(ename)}: "
            f"{html.escape(evalue.splitlines()[0] if evalue else '')}</code></div>"
        )
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, body, count=1)
    return atomic_write_text(target, body)


def render_both(notebook: Path, html_dir: Path) -> tuple[Path, Path]:
    """Full and report-mode HTML of one executed notebook: ``<name>.html`` and ``<name>.report.html``."""
    name = Path(notebook).stem
    return (
        notebook_to_html(notebook, html_dir / f"{name}.html"),
        notebook_to_html(notebook, html_dir / f"{name}.report.html", report_mode=True),
    )
