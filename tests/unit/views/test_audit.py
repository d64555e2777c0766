"""``runner.py verify`` and ``runner.py reproduce``: a run's files against its manifest, and a run executed again
from its manifest in a scratch outputs folder, artifact by artifact (timestamps aside)."""

from __future__ import annotations

import json

from aapl_lib.views.artifact_diff import ASIDE, DIFFERENT, IDENTICAL, compare_bytes

REVIEWER, NOTE = "Dana Reviewer", "checked the walk-forward"


def test_timestamps_aside_ignores_when_not_what():
    a = {
        "source": "sample",
        "rows": 652,
        "retrieved_at": "2026-11-30T05:12:44+00:00",
        "window": {"first": "2004-06-01"},
    }
    later = {**a, "retrieved_at": "2026-12-01T09:00:00+00:00"}
    assert compare_bytes("data/provenance.json", json.dumps(a).encode(), json.dumps(a).encode()) == (IDENTICAL, "")
    assert compare_bytes("data/provenance.json", json.dumps(a).encode(), json.dumps(later).encode()) == (ASIDE, "")
    other_metric = {**a, "rows": 651}
    verdict, hint = compare_bytes("data/provenance.json", json.dumps(a).encode(), json.dumps(other_metric).encode())
    assert verdict == DIFFERENT and hint == "keys differ: rows"
    other_day = {**later, "window": {"first": "2004-06-02"}}  # a date is data, not a timestamp
    assert compare_bytes("p.json", json.dumps(a).encode(), json.dumps(other_day).encode())[0] == DIFFERENT
    text = "| run | 20261130T051233Z-aapl-88264e |\n| retrieved at | 2026-11-30T05:12:44+00:00 |\n| rows | 652 |\n"
    same = text.replace("20261130T051233Z", "20261201T090000Z").replace("05:12:44", "09:00:01")
    assert compare_bytes("reports/analysis.md", text.encode(), same.encode()) == (ASIDE, "")
    assert compare_bytes("reports/analysis.md", text.encode(), text.replace("652", "651").encode()) == (
        DIFFERENT,
        "line 3 differs",
    )
    assert compare_bytes("model/model.skops", b"\x00\x01", b"\x00\x02") == (DIFFERENT, "bytes differ")


def test_a_pdf_stream_whose_compressed_bytes_end_in_a_carriage_return_is_still_compared_by_content():
    """A bug found by the suite: one PDF in about ten had a compressed stream ending in b"\\r", which a pattern
    took for the line break before "endstream"; that stream stayed compressed and the PDF came out DIFFERENT."""
    import zlib

    from aapl_lib.views.artifact_diff import pdf_canonical

    n = 0
    while not zlib.compress(f"BT (run {n}) Tj ET".encode())[-1:] == b"\r":
        n += 1
    content = f"BT (run {n}) Tj ET".encode()
    packed = zlib.compress(content)
    pdf = b"%%PDF-1.3\n4 0 obj\n<</Filter /FlateDecode /Length %d>>\nstream\n" % len(packed)
    pdf += packed + b"\nendstream\nendobj\n"
    assert content.decode() in pdf_canonical(pdf)
