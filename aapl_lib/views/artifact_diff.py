"""Whether two copies of an artifact say the same thing, timestamps aside (for ``runner.py reproduce``).

Two runs of the same parameters on the same input write the same bytes, except where an artifact records *when*
or *which run*: provenance's ``retrieved_at``, the gate decision's ``at``, the run id in the report's title,
a PDF's creation date. :func:`compare_files` tells the three cases apart:

* ``identical``: the same bytes;
* ``identical (timestamps aside)``: the same once timestamps, run ids and run folder paths are blanked out
  (JSON: values under timestamp keys such as ``retrieved_at``, ``created_at``, ``trained_at``, ``at``; text:
  ISO timestamps, run ids, the run folders' paths; PDF: the same in its decompressed content, plus its
  creation date, ``/ID`` and byte offsets);
* ``DIFFERENT``: anything else, with a hint (the JSON keys that differ, the first differing line, or
  ``bytes differ``).

Pure functions and the standard library only.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

IDENTICAL = "identical"
ASIDE = "identical (timestamps aside)"
DIFFERENT = "DIFFERENT"

# JSON keys whose values say when something happened, not what it is.
TIMESTAMP_KEYS = frozenset(
    {
        "retrieved_at",
        "created_at",
        "trained_at",
        "at",
        "approved_at",
        "decided_at",
        "started_at",
        "ended_at",
        "updated_at",
        "generated_at",
        "since",
    }
)
ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[a-z0-9_]+-[0-9a-f]{6}(?:-\d+)?")
PDF_DATE = re.compile(r"D:\d{14}(?:Z|[+-]\d{2}'?\d{2}'?)?")
TEXT_SUFFIXES = (".csv", ".md", ".txt", ".html", ".log", ".yaml", ".yml")


def normalise_text(text: str, aside: Iterable[str] = ()) -> str:
    """``text`` with the strings in ``aside`` (run folder paths), run ids and timestamps replaced by
    placeholders. Plain dates (``2006-06-30``) stay: they are data."""
    for value in sorted((a for a in aside if a), key=len, reverse=True):
        text = text.replace(value, "<run folder>")
    text = RUN_ID.sub("<run id>", text)
    text = ISO_TIMESTAMP.sub("<timestamp>", text)
    return PDF_DATE.sub("<timestamp>", text)


def normalise_json(value: Any, aside: Iterable[str] = ()) -> Any:
    """``value`` with every timestamp key's value blanked and every string normalised (see
    :func:`normalise_text`)."""
    aside = tuple(aside)
    if isinstance(value, dict):
        return {
            k: "<timestamp>" if k in TIMESTAMP_KEYS and v is not None else normalise_json(v, aside)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalise_json(v, aside) for v in value]
    if isinstance(value, str):
        return normalise_text(value, aside)
    return value


def json_differences(a: Any, b: Any, path: str = "", limit: int = 5) -> list[str]:
    """The key paths (``metrics.model.rmse``, ``checks[2].value``) where ``a`` and ``b`` differ, at most
    ``limit``."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(where + (" (only in the original)" if key in a else " (only in the reproduction)"))
            else:
                out += json_differences(a[key], b[key], where, limit)
            if len(out) >= limit:
                break
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += json_differences(x, y, f"{path}[{i}]", limit)
            if len(out) >= limit:
                break
    elif a != b:
        out.append(path or "(the whole document)")
    return out[:limit]


def pdf_canonical(data: bytes) -> str:
    """A PDF as comparable text: each compressed stream replaced by its content, the parts that change with
    every write (creation date, ``/ID``, stream lengths, the cross-reference table's offsets) dropped."""

    # Each stream is cut by its /Length, not by searching for "endstream": compressed bytes may end in "\r",
    # which a pattern would take for the line break before "endstream" (and then fail to inflate the stream).
    parts, pos = [], 0
    for match in re.finditer(rb"\d+ 0 obj\s*<<((?:(?!endobj).)*?)>>\s*stream\r?\n", data, flags=re.S):
        length = re.search(rb"/Length (\d+)", match.group(1))
        if match.start() < pos or length is None:
            continue
        start, end = match.end(), match.end() + int(length.group(1))
        parts.append(data[pos:start])
        try:
            parts.append(zlib.decompress(data[start:end]))
        except zlib.error:
            parts.append(data[start:end])
        pos = end
    parts.append(data[pos:])
    text = b"".join(parts).decode("latin-1")
    text = re.sub(r"/Length \d+", "/Length", text)
    text = re.sub(r"/ID \[<[0-9A-Fa-f]*>\s*<[0-9A-Fa-f]*>\]", "/ID", text)
    text = re.sub(r"\nxref\n.*?\ntrailer\n", "\ntrailer\n", text, flags=re.S)
    return re.sub(r"startxref\n\d+", "startxref", text)


def _first_line_difference(a: str, b: str) -> str:
    lines_a, lines_b = a.splitlines(), b.splitlines()
    for number, (x, y) in enumerate(zip(lines_a, lines_b, strict=False), 1):
        if x != y:
            return f"line {number} differs"
    return f"{len(lines_a)} lines vs {len(lines_b)}"


def compare_bytes(name: str, a: bytes, b: bytes, aside: Iterable[str] = ()) -> tuple[str, str]:
    """``(verdict, hint)`` for the original's bytes ``a`` and the reproduction's ``b`` of artifact ``name``
    (its suffix says how to read it); ``aside`` are the run folders' paths."""
    if a == b:
        return IDENTICAL, ""
    aside = tuple(aside)
    suffix = Path(name).suffix.lower()
    if suffix == ".json":
        try:
            ja, jb = json.loads(a), json.loads(b)
        except (ValueError, UnicodeDecodeError):
            return DIFFERENT, "bytes differ (not valid JSON)"
        na, nb = normalise_json(ja, aside), normalise_json(jb, aside)
        if na == nb:
            return ASIDE, ""
        return DIFFERENT, "keys differ: " + ", ".join(json_differences(na, nb))
    if suffix == ".pdf":
        ca, cb = (normalise_text(pdf_canonical(x), aside) for x in (a, b))
        return (ASIDE, "") if ca == cb else (DIFFERENT, "content differs")
    if suffix in TEXT_SUFFIXES:
        try:
            ta, tb = (normalise_text(x.decode("utf-8"), aside) for x in (a, b))
        except UnicodeDecodeError:
            return DIFFERENT, "bytes differ"
        return (ASIDE, "") if ta == tb else (DIFFERENT, _first_line_difference(ta, tb))
    return DIFFERENT, "bytes differ"


def compare_files(name: str, original: Path, reproduction: Path, aside: Iterable[str] = ()) -> tuple[str, str]:
    """:func:`compare_bytes` of two files; a missing one is ``DIFFERENT`` and said so."""
    if not original.is_file():
        return DIFFERENT, "missing in the original run"
    if not reproduction.is_file():
        return DIFFERENT, "not written by the reproduction"
    return compare_bytes(name, original.read_bytes(), reproduction.read_bytes(), aside)
