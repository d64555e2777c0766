"""analysis.md carries a comparison sign as written and only markup escaped; the run page escapes each
character exactly once (issue 27, item 5)."""

from __future__ import annotations

from aapl_lib.reporting.markdown import as_plain_text
from aapl_lib.views.browser import report_html
from helpers import parse_html

MARKUP = '<script>alert("x")</script> <img src=x onerror=alert(1)> <!-- c --> <http://example.org> &#60;b&#62;'


def test_a_comparison_sign_stays_plain_in_the_markdown_and_is_escaped_once_in_the_page():
    md = as_plain_text("| check | limit |\n|---|---|\n| DM p-value | < 0.05 |\n\nR² <= 0.1 and S&P 500 & co")
    assert "&lt;" not in md and "&amp;" not in md
    assert "| < 0.05 |" in md and "R² <= 0.1 and S&P 500 & co" in md
    html = report_html(md)
    assert "<td>&lt; 0.05</td>" in html and "R² &lt;= 0.1" in html  # one escape, by the renderer
    text = " ".join(parse_html(html).text)
    assert "< 0.05" in text and "R² <= 0.1" in text and "&lt;" not in text and "&amp;" not in text


def test_markup_in_untrusted_text_stays_text_in_the_markdown_and_on_the_page():
    md = as_plain_text("note: " + MARKUP)
    for opening in ("<script", "</script", "<img", "<!--", "<http", "&#60;"):
        assert opening not in md, opening
    html = report_html(md)
    assert "<script" not in html and "<img" not in html and "<!--" not in html and "<a" not in html
    # what a person reads is the note as typed: every character once, none of it markup
    assert " ".join(parse_html(html).text).strip() == "note: " + MARKUP
