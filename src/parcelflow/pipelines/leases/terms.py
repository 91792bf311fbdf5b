"""When the lease is dated, when its term starts and ends, and how long it runs.

A term is stated as fixed dates ("Commencement Date: April 1, 2020"), as an event
("the date of Substantial Completion of Landlord's Work"), or relative to another date
("the last day of the 120th full calendar month following the Commencement Date").
Fixed dates become ``*_date``; event-defined or relative ones become ``*_rule`` (the
lease's own words). An expiration computed from a fixed commencement date and a term
is marked ``derived``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.dates import (
    DATE_PATTERN,
    add_months,
    end_of_month,
    first_date,
    months_spanned,
)
from parcelflow.pipelines.leases.fields import Found, corroborated
from parcelflow.pipelines.leases.model import Evidence
from parcelflow.pipelines.leases.numbers import (
    DURATION_PATTERN,
    ORDINAL_PATTERN,
    duration_months,
    ordinal_value,
)
from parcelflow.pipelines.leases.spans import (
    SOURCE_CONFIDENCE,
    Span,
    clause_end,
    labelled,
    preceding_word,
    sentence_start,
    summary_region,
)

__all__ = [
    "TermFacts",
    "derive_expiration",
    "derive_term",
    "find_commencement",
    "find_expiration",
    "find_lease_date",
    "find_term_months",
]

# Dates and terms that are not the lease's own ("Rent Commencement Date", "Target
# Commencement Date", "Renewal Term"): the word before the label says so.
_NOT_OUR_TERM = frozenset(
    {
        "rent", "target", "estimated", "anticipated", "scheduled", "outside", "expected",
        "renewal", "extension", "option", "extended", "first", "second", "delivery",
        "possession",
    }
)  # fmt: skip
_COMMENCEMENT_LABEL = r"(?:lease |term )?commencement date"
_EXPIRATION_LABEL = r"(?:lease |term )?(?:expiration|termination) date|expiration of (?:the )?term"
_TERM_LABEL = (
    r"(?:lease |initial |original |primary )?term|length of (?:the )?term"
    r"|term of (?:this )?lease|initial lease term"
)
_DATE_LABEL = r"date of (?:this )?lease|lease date|effective date|execution date"
_CROSS_REFERENCE = re.compile(
    r"^(?:shall be |is )?(?:as )?(?:defined|set forth|described|specified|provided)\b"
    r"|^has the meaning|^see\b|^n/?a\b|^as listed|^intentionally|^\[|^_",
    re.I,
)
_UNRELATED = re.compile(
    r"renew|extension|extend|option|abat|holdover|hold over|free rent|allowance|audit|notice"
    r"|prior to|guarant|letter of credit|security deposit|reduc",
    re.I,
)
_UNRELATED_RULE = re.compile(
    r"renew|option\s+term|holdover|hold over|abat|allowance|letter of credit|security deposit", re.I
)
_DATE = re.compile(DATE_PATTERN, re.I)
_DURATION = re.compile(DURATION_PATTERN, re.I)
_ORDINAL_MONTH = re.compile(
    rf"last\s+day\s+of\s+the\s+({ORDINAL_PATTERN})\s+(?:full\s+)?(?:calendar\s+)?month"
    r"\s+(?:following|after|of)\s+the\s+(?:(?:rent|lease)\s+)?(?:commencement\s+date|(?:lease\s+)?term)",
    re.I,
)
_RELATIVE_TERM = re.compile(
    rf"({DURATION_PATTERN})\s+(?:in\s+duration|after|following|from)\b"
    r"(?:\s+the\s+(?:(?:rent|lease)\s+)?commencement\s+date)?",
    re.I,
)
_INLINE_COMMENCEMENT = re.compile(
    r'\((?:[^()"]{0,60})"(?:the\s+)?(?:lease\s+|term\s+)?commencement\s+date"\)', re.I
)
_INLINE_EXPIRATION = re.compile(
    r'\((?:[^()"]{0,60})"(?:the\s+)?(?:lease\s+)?(?:expiration|termination)\s+date"\)', re.I
)
# Both inline definitions open with their parenthesis (see Corpus.finditer).
_INLINE_OPENINGS = ("(",)
_ALTERNATIVE = re.compile(r"\b(?:later|earlier|sooner)\s+of\b|\bfirst\s+to\s+occur\b|\(ii\)", re.I)
_END_VERB = re.compile(
    r"\b(?:end(?:s|ing)?|expir(?:e|es|ing)|terminat(?:e|es|ing)|continu(?:e|es|ing)\s+(?:through|until))\b"
    r"[^;]{0,60}?(?=(?:on\s+)?the\s+(?:last\s+day|date\s+that\s+is|day\s+(?:immediately\s+)?preceding"
    r"|\w+\s+\(\d+\w*\)\s+anniversary|\d+\w*\s+anniversary))",
    re.I,
)
_FIXED_TERM_CLAUSE = re.compile(
    rf"\bterm\b[^.;]{{0,120}}?\bcommenc\w*\s+(?:on\s+)?({DATE_PATTERN})"
    rf"[^.;]{{0,160}}?\b(?:end\w*|expir\w*|terminat\w*)\s+(?:on\s+)?({DATE_PATTERN})",
    re.I,
)
_PARTIES_CLAUSE = re.compile(r"\bbetween\b|\bby and among\b|\bentered into by\b|\bmade by\b", re.I)
_PARTIES_OPENINGS = ("between", "by and among", "entered into by", "made by")
_INSTRUMENT_BEFORE = re.compile(
    r"\b(?:agreement|contract|amendment|note|deed|guaranty|assignment|letter|lease|trust"
    r"|declaration|mortgage)\W{0,3}$",
    re.I,
)
_ROLE_BEFORE = re.compile(r"\b(?:landlord|tenant|lessor|lessee|sublandlord|subtenant)\b", re.I)
_OTHER_AGREEMENT = re.compile(r"\bthat certain\b|\bunder\b[^.]{0,80}\bagreement\b", re.I)
_ROLE_MARKER = re.compile(r'\([^()]{0,100}"[^"]{1,50}"[^()]{0,100}\)')
_LAST_DAY_OF_MONTH = re.compile(
    r"last\s+day\s+of\s+(January|February|March|April|May|June|July|August|September|October"
    r"|November|December),?\s+((?:19|20)\d\d)\b",
    re.I,
)
_TERM_END_DATE = re.compile(
    rf"\bterm\b[^.;]{{0,80}}?\b(?:shall\s+)?(?:end|expire|terminate)s?\b"
    rf"(?:\s+at\s+[^.;]{{0,30}}?)?\s+on\s+({DATE_PATTERN})",
    re.I,
)
_TERM_IS = re.compile(
    rf"\bterm\s+(?:of\s+this\s+lease\s+)?(?:\([^)]{{0,40}}\)\s+)?(?:shall\s+be|is)\s+"
    rf"(?:for\s+)?(?:a\s+period\s+of\s+)?({DURATION_PATTERN})(?!\s+(?:after|following|from|prior))",
    re.I,
)
_TERM_OF = re.compile(
    rf"\bfor\s+a\s+(?:term|period)\s+of\s+({DURATION_PATTERN})\s*(?:\([^)]{{0,60}}\)\s*)?,?\s+"
    r"(?:commencing|beginning|starting|from)\b",
    re.I,
)
_OPENING_DATE = re.compile(
    r"\b(?:dated|made|executed|entered\s+into|effective|as\s+of)\b"
    r"(?:\s+(?:and\s+)?(?:entered\s+into|executed|made|effective|delivered))?"
    rf"(?:\s+(?:as\s+of|on|this|the|of))*\s+({DATE_PATTERN})",
    re.I,
)
_SELF_DATED = re.compile(
    rf"\bthis\s+(?:[\w-]+\s+){{0,3}}(?:lease|sublease)\b[^.;]{{0,60}}?\bdated\s+(?:as\s+of\s+)?({DATE_PATTERN})",
    re.I,
)
_COVER_DATE = re.compile(rf"\bdated\s*:?\s*(?:as\s+of\s+)?({DATE_PATTERN})", re.I)
_EXECUTION_DATE = re.compile(
    r"\bdate\s+(?:that|on\s+which)\s+this\s+lease\s+(?:is|was|has\s+been)\s+(?:fully\s+)?executed"
    rf"[^$]{{0,160}}?({DATE_PATTERN})",
    re.I,
)
_ITEM_NUMBER = re.compile(r"(?:^|\s)(?:\d{1,2}(?:\.\d{1,2})*\.?|\([a-z0-9]{1,3}\))\s*$", re.I)
_RULE_LIMIT = 320
_COVER_WINDOW = 4_000
_OPENING_WINDOW = 60_000


@dataclass(frozen=True, slots=True)
class TermFacts:
    """A term boundary: a fixed date, or the rule the lease uses to fix it later."""

    date: Found[dt.date] | None
    rule: Found[str] | None


def find_lease_date(corpus: Corpus) -> Found[dt.date] | None:
    """The date the lease is dated or executed."""
    candidates = [
        *_labelled_dates(corpus, _DATE_LABEL, summary_label=r"date"),
        *_opening_dates(corpus),
        *_self_dated(corpus),
        *_cover_dates(corpus),
        *_execution_dates(corpus),
    ]
    return corroborated(candidates)


def find_commencement(corpus: Corpus) -> TermFacts:
    """Commencement: the fixed date, or else the event-defined rule."""
    fixed = corroborated(
        [
            *_labelled_dates(corpus, _COMMENCEMENT_LABEL),
            *_summary_adjacent_dates(corpus, r"(?:lease |term )?commencement(?: date)?"),
            *_inline_fixed(corpus, _INLINE_COMMENCEMENT),
            *_fixed_term_clause(corpus, 1),
        ]
    )
    if fixed is not None:
        return TermFacts(fixed, None)
    rules = [
        *_labelled_rules(corpus, _COMMENCEMENT_LABEL),
        *_inline_rules(corpus, _INLINE_COMMENCEMENT),
    ]
    return TermFacts(None, rules[0] if rules else None)


def find_expiration(corpus: Corpus) -> TermFacts:
    """Expiration: the fixed date, or else the relative or event-defined rule."""
    fixed = corroborated(
        [
            *_labelled_dates(corpus, _EXPIRATION_LABEL),
            *_summary_adjacent_dates(corpus, r"(?:lease )?expiration(?: date)?"),
            *_inline_fixed(corpus, _INLINE_EXPIRATION),
            *_fixed_term_clause(corpus, 2),
            *_term_end_dates(corpus),
        ]
    )
    if fixed is not None:
        return TermFacts(fixed, None)
    rules = [
        *_labelled_rules(corpus, _EXPIRATION_LABEL),
        *_term_end_rules(corpus),
        *_inline_rules(corpus, _INLINE_EXPIRATION),
    ]
    month_end = next(filter(None, (_month_end(rule) for rule in rules)), None)
    if month_end is not None:
        return TermFacts(month_end, None)
    return TermFacts(None, rules[0] if rules else None)


def _month_end(rule: Found[str]) -> Found[dt.date] | None:
    """A rule ending "on the last day of December, 2026" is a fixed date after all."""
    match = _LAST_DAY_OF_MONTH.search(rule.value)
    found = first_date(f"{match.group(1)} 1, {match.group(2)}") if match else None
    if found is None:
        return None
    return Found(end_of_month(found.value), rule.confidence, rule.evidence)


def find_term_months(corpus: Corpus) -> Found[int] | None:
    """Length of the initial term in months, as stated (written-out numbers included)."""
    return corroborated(
        [
            *_labelled_terms(corpus),
            *_ordinal_terms(corpus),
            *_relative_terms(corpus),
            *_clause_terms(corpus),
        ]
    )


def derive_term(
    corpus: Corpus, start: Found[dt.date] | None, end: Found[dt.date] | None
) -> Found[int] | None:
    """Term months from fixed commencement and expiration dates (whole months only)."""
    if start is None or end is None:
        return None
    months = months_spanned(start.value, end.value)
    if months is None:
        return None
    evidence = end.evidence.model_copy(update={"derived": True})
    return Found(months, min(start.confidence, end.confidence) * 0.9, evidence)


def derive_expiration(
    start: Found[dt.date] | None, term: Found[int] | None, rule: Found[str] | None
) -> Found[dt.date] | None:
    """Expiration from a fixed commencement date and the term.

    "Last day of the Nth full calendar month" counts whole months after a partial first
    month; otherwise the term ends the day before the same date N months on.
    """
    if start is None or term is None:
        return None
    full_months = rule is not None and "full calendar month" in rule.value.lower()
    if full_months and start.value.day != 1:
        value = end_of_month(add_months(start.value, term.value))
    else:
        value = add_months(start.value, term.value) - dt.timedelta(days=1)
    source = rule.evidence if rule is not None else term.evidence
    evidence = source.model_copy(update={"derived": True})
    return Found(value, min(start.confidence, term.confidence) * 0.9, evidence)


# -- dates ----------------------------------------------------------------------------


def _labelled_dates(
    corpus: Corpus, label: str, summary_label: str | None = None
) -> Iterator[Found[dt.date]]:
    labels = label if summary_label is None else f"{label}|{summary_label}"
    for span in labelled(corpus, labels, limit=120, not_after=_NOT_OUR_TERM):
        generic = summary_label is not None and not re.fullmatch(
            label, corpus.text[span.label_start : span.start].strip(' "():'), re.I
        )
        if generic and not _numbered_item(corpus, span):
            continue  # a bare "Date:" is the lease date only as a numbered summary item
        found = _date_at(corpus, span.start, span.quote_start)
        if found is not None:
            yield Found(found[0], SOURCE_CONFIDENCE[span.source], found[1])


def _numbered_item(corpus: Corpus, span: Span) -> bool:
    before = corpus.text[max(0, span.label_start - 12) : span.label_start]
    return span.source == "summary" and _ITEM_NUMBER.search(before) is not None


def _date_at(corpus: Corpus, start: int, quote_from: int) -> tuple[dt.date, Evidence] | None:
    """A date that opens a value (within a few characters of ``start``)."""
    found = first_date(corpus.text, start, start + 60)
    if found is None or found.start - start > 4:
        return None
    return found.value, corpus.evidence(quote_from, found.end)


def _summary_adjacent_dates(corpus: Corpus, label: str) -> Iterator[Found[dt.date]]:
    """ "3.2 Lease Commencement March 1, 2020. Date:" — summary tables split labels."""
    region = summary_region(corpus)
    if region is None:
        return
    pattern = re.compile(rf"\b{label}\s*:?\s*({DATE_PATTERN})", re.I)
    for match in pattern.finditer(corpus.text, region[0], region[1]):
        if preceding_word(corpus.text, match.start()) in _NOT_OUR_TERM:
            continue
        value = first_date(match.group(1))
        if value is not None:
            yield Found(value.value, SOURCE_CONFIDENCE["summary"], corpus.evidence(*match.span()))


def _inline_fixed(corpus: Corpus, inline: re.Pattern[str]) -> Iterator[Found[dt.date]]:
    """ "... commence on April 1, 2020 (the "Commencement Date")"."""
    for match in corpus.finditer(inline, _INLINE_OPENINGS):
        before = corpus.text[max(0, match.start() - 40) : match.start()]
        dates = list(_DATE.finditer(before))
        sentence = corpus.text[sentence_start(corpus.text, match.start(), 300) : match.start()]
        if _ALTERNATIVE.search(sentence):
            continue  # "the later of (i) ... or (ii) August 1, 1999": an event, not a date
        if dates and len(before) - dates[-1].end() <= 3:
            found = first_date(dates[-1].group())
            if found is not None:
                start = sentence_start(corpus.text, match.start(), 200)
                yield Found(
                    found.value, SOURCE_CONFIDENCE["clause"], corpus.evidence(start, match.end())
                )


def _fixed_term_clause(corpus: Corpus, group: int) -> Iterator[Found[dt.date]]:
    """ "The Term shall commence on April 1, 2020 and end on March 31, 2025"."""
    for match in corpus.finditer(_FIXED_TERM_CLAUSE, ("term",)):
        if _UNRELATED.search(match.group()):
            continue
        found = first_date(match.group(group))
        if found is not None:
            yield Found(found.value, SOURCE_CONFIDENCE["clause"], corpus.evidence(*match.span()))


def _term_end_dates(corpus: Corpus) -> Iterator[Found[dt.date]]:
    """Term end clauses: "The Initial Term ... shall end at midnight on January 14, 2008"."""
    for match in corpus.finditer(_TERM_END_DATE, ("term",)):
        if preceding_word(corpus.text, match.start()) in _NOT_OUR_TERM:
            continue
        sentence = corpus.text[sentence_start(corpus.text, match.start(), 200) : match.end()]
        if _UNRELATED.search(sentence) or _ALTERNATIVE.search(sentence):
            continue
        found = first_date(match.group(1))
        if found is not None:
            yield Found(found.value, SOURCE_CONFIDENCE["clause"], corpus.evidence(*match.span()))


def _opening_dates(corpus: Corpus) -> Iterator[Found[dt.date]]:
    """The date in the opening sentence ("THIS LEASE, dated as of ... between X
    ("Landlord") and Y ("Tenant")")."""
    opening = _opening(corpus)
    if opening is None:
        return
    start, end = opening
    match = _OPENING_DATE.search(corpus.text, start, end)
    found = first_date(match.group(1)) if match else None
    if match is not None and found is not None:
        evidence = corpus.evidence(start, match.end())
        yield Found(found.value, SOURCE_CONFIDENCE["definition"], evidence)


def _opening(corpus: Corpus) -> tuple[int, int] | None:
    """The opening sentence: the first that defines its parties ("between X ("Landlord")
    and ..."); one that refers to "that certain" other agreement is not it."""
    if "opening" in corpus.memo:
        return cast("tuple[int, int] | None", corpus.memo["opening"])
    found: tuple[int, int] | None = None
    for clause in corpus.finditer(_PARTIES_CLAUSE, _PARTIES_OPENINGS, 0, _OPENING_WINDOW):
        start = sentence_start(corpus.text, clause.start(), 500)
        end = clause_end(corpus.text, clause.start(), 900)
        if _ROLE_MARKER.search(corpus.text, clause.end(), end) and not _OTHER_AGREEMENT.search(
            corpus.text, start, clause.start()
        ):
            found = (start, end)
            break
    corpus.memo["opening"] = found
    return found


def _self_dated(corpus: Corpus) -> Iterator[Found[dt.date]]:
    """A lease that dates itself: "THIS LEASE is dated the 13th day of June, 1997"."""
    match = corpus.search(_SELF_DATED, ("this",), 0, _OPENING_WINDOW)
    found = first_date(match.group(1)) if match else None
    if match is not None and found is not None:
        yield Found(found.value, SOURCE_CONFIDENCE["definition"], corpus.evidence(*match.span()))


def _cover_dates(corpus: Corpus) -> Iterator[Found[dt.date]]:
    """A cover-page date ("... AS TENANT DATED MAY 10, 2019"): before the opening sentence,
    next to the parties' roles or set as a heading ("DATED:"), and not the date of some
    other instrument ("Declaration of Trust dated ...")."""
    opening = _opening(corpus)
    limit = opening[0] if opening is not None else _COVER_WINDOW
    for match in corpus.finditer(_COVER_DATE, ("dated",), 0, limit):
        before = corpus.text[max(0, match.start() - 40) : match.start()]
        heading = match.group().startswith("DATED") or match.group().lower().startswith("dated:")
        if _INSTRUMENT_BEFORE.search(before) or not (heading or _ROLE_BEFORE.search(before)):
            continue
        found = first_date(match.group(1))
        if found is not None:
            yield Found(found.value, SOURCE_CONFIDENCE["cover"], corpus.evidence(*match.span()))
            return


def _execution_dates(corpus: Corpus) -> Iterator[Found[dt.date]]:
    """Forms that ask for "the date that this Lease is fully executed"."""
    for match in corpus.finditer(_EXECUTION_DATE, ("date",)):
        found = first_date(match.group(1))
        if found is not None:
            yield Found(found.value, SOURCE_CONFIDENCE["label"], corpus.evidence(*match.span()))
            return


# -- rules ----------------------------------------------------------------------------


def _labelled_rules(corpus: Corpus, label: str) -> Iterator[Found[str]]:
    for span in labelled(corpus, label, limit=_RULE_LIMIT, not_after=_NOT_OUR_TERM):
        text = span.text(corpus)
        if _CROSS_REFERENCE.search(text) or _date_at(corpus, span.start, span.start):
            continue
        yield _rule(corpus, span, text)


def _inline_rules(corpus: Corpus, inline: re.Pattern[str]) -> Iterator[Found[str]]:
    """A sentence that defines the date inline as an event or a relative date."""
    for match in corpus.finditer(inline, _INLINE_OPENINGS):
        start = sentence_start(corpus.text, match.start(), _RULE_LIMIT)
        end = clause_end(corpus.text, match.end(), 200)
        text = corpus.text[start:end]
        defining = corpus.text[start : match.start()]
        if _UNRELATED_RULE.search(defining) or _DATE.search(
            corpus.text, match.start() - 25, match.start()
        ):
            continue
        yield _rule(corpus, Span(start, end, "clause"), text)


def _term_end_rules(corpus: Corpus) -> Iterator[Found[str]]:
    """The end of a term item: "... ending ... on the last day of the 156th full month"."""
    for span in labelled(corpus, _TERM_LABEL, limit=600, not_after=_NOT_OUR_TERM):
        verb = _END_VERB.search(corpus.text, span.start, span.end)
        if verb is None or _UNRELATED_RULE.search(corpus.text, span.start, verb.start()):
            continue
        end = clause_end(corpus.text, verb.start(), _RULE_LIMIT)
        yield _rule(corpus, Span(verb.start(), end, span.source), corpus.text[verb.start() : end])


def _rule(corpus: Corpus, span: Span, text: str) -> Found[str]:
    value = text.strip(" .;:")
    evidence = corpus.evidence(span.start, span.start + len(text))
    return Found(value, SOURCE_CONFIDENCE[span.source] * 0.9, evidence)


# -- term length ----------------------------------------------------------------------


def _labelled_terms(corpus: Corpus) -> Iterator[Found[int]]:
    for span in labelled(corpus, _TERM_LABEL, limit=300, not_after=_NOT_OUR_TERM):
        duration = _DURATION.search(corpus.text, span.start, min(span.end, span.start + 80))
        if duration is None or _UNRELATED.search(corpus.text, span.start, duration.start()):
            continue
        months = duration_months(duration.group())
        if months:
            evidence = corpus.evidence(span.quote_start, duration.end())
            yield Found(months, SOURCE_CONFIDENCE[span.source], evidence)


def _clause_terms(corpus: Corpus) -> Iterator[Found[int]]:
    """Term clauses: "The term of this Lease shall be for five (5) years", "for a term of
    ten (10) years commencing on ..."."""
    for pattern, openings in ((_TERM_IS, ("term",)), (_TERM_OF, ("for",))):
        for match in corpus.finditer(pattern, openings):
            if preceding_word(corpus.text, match.start()) in _NOT_OUR_TERM:
                continue
            start = sentence_start(corpus.text, match.start(), 200)
            if _UNRELATED.search(corpus.text, start, match.start()):
                continue
            months = duration_months(match.group(1))
            if months:
                yield Found(
                    months, SOURCE_CONFIDENCE["clause"], corpus.evidence(start, match.end())
                )


def _ordinal_terms(corpus: Corpus) -> Iterator[Found[int]]:
    """ "The Term shall end on the last day of the 120th full calendar month following
    the Commencement Date"."""
    for match in corpus.finditer(_ORDINAL_MONTH, ("last",)):
        start = sentence_start(corpus.text, match.start(), 400)
        sentence = corpus.text[start : match.end()]
        if not re.search(r"\bterm\b|expiration date", sentence, re.I) or _UNRELATED.search(
            sentence
        ):
            continue
        months = ordinal_value(match.group(1))
        if months:
            yield Found(months, SOURCE_CONFIDENCE["clause"], corpus.evidence(start, match.end()))


def _relative_terms(corpus: Corpus) -> Iterator[Found[int]]:
    """ "... the date that is one hundred twenty-eight (128) months after the
    Commencement Date (the "Expiration Date")" inside a term definition."""
    for span in labelled(corpus, _TERM_LABEL, limit=600, not_after=_NOT_OUR_TERM):
        match = _RELATIVE_TERM.search(corpus.text, span.start, span.end)
        if match is None or (
            "commencement" not in match.group().lower() and "duration" not in match.group().lower()
        ):
            continue
        if _UNRELATED.search(corpus.text, span.start, match.end()):
            continue
        months = duration_months(match.group(1))
        if months:
            evidence = corpus.evidence(span.quote_start, match.end())
            yield Found(months, SOURCE_CONFIDENCE[span.source] * 0.95, evidence)
