"""HTML to text, plain-text decoding and page splitting (standard library only)."""

from __future__ import annotations

import pytest

from parcelflow.documents.html import decode_text, html_to_text, split_pages
from parcelflow.documents.reader import read_document
from parcelflow.errors import PermanentError


def test_script_style_and_title_are_dropped() -> None:
    markup = (
        "<html><head><title>EX-10.1</title><style>p {color: red}</style>"
        "<script>var x = '<p>no</p>';</script></head>"
        "<body><p>Lease</p></body></html>"
    )
    assert html_to_text(markup) == "Lease"


def test_block_elements_become_lines_and_inline_elements_do_not() -> None:
    markup = "<div>ARTICLE 1</div><p>The <b>Landlord</b> leases<br>to the <i>Tenant</i>.</p>"
    assert html_to_text(markup) == "ARTICLE 1\nThe Landlord leases\nto the Tenant."


def test_whitespace_and_nbsp_collapse_outside_pre() -> None:
    assert html_to_text("<p>Base&nbsp;&nbsp;Rent\n   is   due</p>") == "Base Rent is due"


def test_pre_keeps_its_spacing() -> None:
    assert html_to_text("<pre>Year   Rent\n1      $10</pre>") == "Year   Rent\n1      $10"


def test_entities_are_decoded() -> None:
    assert html_to_text("<p>Smith &amp; Sons &#8220;Tenant&#8221;</p>") == "Smith & Sons “Tenant”"


def test_table_rows_are_lines_with_tab_separated_cells() -> None:
    markup = (
        "<table><tr><th>Period</th><th>Monthly Rent</th></tr>"
        "<tr><td><p>Months 1-12</p></td><td><p>$10,000</p><p>(abated)</p></td></tr></table>"
    )
    assert html_to_text(markup) == "Period\tMonthly Rent\nMonths 1-12\t$10,000 (abated)"


def test_unclosed_cells_are_still_separated() -> None:
    assert html_to_text("<table><tr><td>a<td>b<td>c</table>") == "a\tb\tc"


def test_page_break_before_starts_a_new_page() -> None:
    markup = '<p>one</p><p style="page-break-before: always">two</p>'
    assert html_to_text(markup) == "one\ftwo"


def test_page_break_after_on_an_element_ends_the_page_at_its_end() -> None:
    markup = '<div style="PAGE-BREAK-AFTER:always"><p>one</p></div><p>two</p>'
    assert html_to_text(markup) == "one\ftwo"


def test_page_break_on_hr_breaks_where_it_stands() -> None:
    assert html_to_text('one<hr style="page-break-after:always">two') == "one\ftwo"


def test_unclosed_title_does_not_swallow_the_body() -> None:
    assert html_to_text("<title>x<body><p>Lease</p></body>") == "Lease"


def test_adjacent_and_empty_blocks_do_not_stack_blank_lines() -> None:
    assert html_to_text("<p>a</p>\n  <p></p><p></p><div></div><p>b</p>") == "a\nb"


def test_runs_of_br_collapse_to_one_blank_line() -> None:
    assert html_to_text("a<br><br><br><br>b") == "a\n\nb"


def test_decode_text_strips_utf8_bom_and_normalises_line_ends() -> None:
    assert decode_text("\ufeffLease\r\nline2\rline3".encode()) == "Lease\nline2\nline3"


def test_decode_text_falls_back_to_cp1252() -> None:
    expected = "\u201cPremises\u201d \u2013 Suite 100"  # curly quotes, en dash
    assert decode_text(b"\x93Premises\x94 \x96 Suite 100") == expected


def test_decode_text_never_fails_on_cp1252_undefined_bytes() -> None:
    assert decode_text(b"a\x81b") == "a\ufffdb"


def test_split_pages_drops_blank_pages_but_keeps_at_least_one() -> None:
    assert split_pages("\fone\n\f\f two\f") == ["one", " two"]
    assert split_pages("") == [""]


def test_read_document_on_html_bytes() -> None:
    markup = b"<!DOCTYPE html><html><body><p>Lease</p><p style='break-before: page'>Exhibit A</p>"
    document = read_document(markup)
    assert document.engine == "html"
    assert [page.text for page in document.pages] == ["Lease", "Exhibit A"]
    assert [record["reason"] for record in document.routing] == ["native_text", "native_text"]


def test_read_document_on_plain_text_splits_form_feeds() -> None:
    document = read_document(b"LEASE\r\nBetween X and Y\x0cEXHIBIT A\r\n")
    assert document.engine == "text"
    assert [page.number for page in document.pages] == [1, 2]
    assert document.text == "LEASE\nBetween X and Y\fEXHIBIT A"


def test_whitespace_only_text_is_empty() -> None:
    with pytest.raises(PermanentError) as caught:
        read_document(b"  \r\n\t \x0c \n")
    assert caught.value.code == "empty"
