"""Security deposit, renewal options, permitted use, governing law and currency.

Each is read from its summary item or definition first ("Security Deposit: $41,366.39",
"Extension Option: ... one (1) additional period of five (5) years"), then from the
clause that grants it ("Landlord hereby grants to Tenant the option ... to renew the term
of this Lease for two (2) additional periods of three (3) years each"). A lease that
says a thing is absent ("Security Deposit: None", "NUMBER OF OPTIONS 0") is recorded as
absent with evidence, which is different from not saying.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.fields import Found, best, corroborated
from parcelflow.pipelines.leases.model import DepositForm, RenewalOption
from parcelflow.pipelines.leases.numbers import (
    AMOUNT_PATTERN,
    COUNT_PATTERN,
    DURATION_PATTERN,
    count_value,
    duration_months,
    parse_amount,
)
from parcelflow.pipelines.leases.premises import state_of
from parcelflow.pipelines.leases.spans import (
    SOURCE_CONFIDENCE,
    clause_end,
    labelled,
    sentence_start,
)

__all__ = [
    "Deposit",
    "find_currency",
    "find_deposit",
    "find_governing_law",
    "find_permitted_use",
    "find_renewal_options",
]

_AMOUNT = re.compile(AMOUNT_PATTERN)
_NONE_VALUE = re.compile(
    r"^(?:none|not\s+applicable|n/?a\b|intentionally\s+(?:omitted|deleted)|\$\s?0(?:\.00)?\b"
    r"|no\s+(?:security\s+)?deposit|not\s+required|zero)",
    re.I,
)
_LETTER_OF_CREDIT = re.compile(r"letter\s+of\s+credit", re.I)
_DEPOSIT_IN_LOC = re.compile(
    r"security\s+deposit\s+shall\s+be\s+(?:delivered\s+)?(?:in\s+the\s+form\s+of\s+)?an?\s+"
    r"(?:irrevocable\s+|unconditional\s+|standby\s+|clean\s+)*letter\s+of\s+credit",
    re.I,
)
_NO_DEPOSIT = re.compile(
    r"(?:shall\s+not\s+be\s+(?:obligated|required)\s+to\s+(?:pay|deposit|deliver|provide)"
    r"|no\s+security\s+deposit\s+(?:shall\s+be|is)\s+required)[^.]{0,20}?\bsecurity\s+deposit|"
    r"no\s+security\s+deposit\s+(?:shall\s+be|is)\s+required",
    re.I,
)
_DEPOSIT_CLAUSE = re.compile(
    rf"(?:security\s+deposit\s+(?:in\s+the\s+(?:amount|sum)\s+of|of|equal\s+to)\s+|"
    rf"deposit\s+with\s+landlord\s+(?:the\s+sum\s+of\s+)?)(?:[^$.]{{0,80}}?)({AMOUNT_PATTERN})",
    re.I,
)
_DEPOSIT_DEFINED = re.compile(
    rf"({AMOUNT_PATTERN})\)?\s*(?:dollars\s*)?\((?:[^()\"]{{0,40}})\"security\s+deposit\"\)", re.I
)
_DEPOSIT_LABEL = r"security deposit(?: amount)?|letter of credit(?: amount)?|l-?c amount"

_COUNT = COUNT_PATTERN
_DURATION = DURATION_PATTERN
_GRANT = (
    r"(?:option|right)s?\s+(?:\([^)]{0,60}\)\s+)?to\s+(?:extend|renew)\s+"
    r"(?:the\s+|this\s+)?(?:(?:lease|original|initial)\s+)?(?:term|lease(?:\s+agreement)?)"
    r"(?:\s+of\s+this\s+lease)?"
)
_GRANT_WORDS = re.compile(r"\b(?:option|right)s?\b[^.;]{0,60}?\bto\s+(?:extend|renew)\b", re.I)
_GRANT_OPENINGS = ("option", "right")
_RENEWAL_MANY = re.compile(
    rf"{_GRANT}\s+for\s+(?:a\s+total\s+of\s+|up\s+to\s+)?({_COUNT})\s+(?:\(\d+\)\s+)?(?:(?:additional|successive|consecutive|further|"
    rf"separate|renewal|extension)\s+)*(?:periods?|terms?)\s+of\s+({_DURATION})",
    re.I,
)
_RENEWAL_COUNTED = re.compile(
    rf"({_COUNT})\s+(?:renewal\s+|extension\s+)?(?:option|right)s?\s+to\s+(?:extend|renew)\b[^.;]{{0,80}}?"
    rf"\bfor\s+(?:a|an|one)\s+(?:additional\s+)?(?:period|term)\s+of\s+({_DURATION})",
    re.I,
)
_RENEWAL_SINGLE = re.compile(
    rf"{_GRANT}\s+for\s*:?\s+(?:\(a\)\s+)?(?:a|an|one)\s+(?:additional\s+)?(?:period|term)\s+of\s+({_DURATION})",
    re.I,
)
_ORDINAL_TERM = re.compile(
    r'"(first|second|third|fourth|fifth)\s+(?:renewal|extension|option)\s+(?:term|period)', re.I
)
_NO_OPTION_OPENINGS = ("number", "renewal", "extension", "shall", "has")
_NO_OPTION = re.compile(
    r"number\s+of\s+(?:renewal\s+|extension\s+)?options\W{0,3}(?:0|none|zero)\b"
    r"|(?:renewal|extension)\s+options?\W{0,3}(?:none|not\s+applicable|n/a|intentionally\s+(?:omitted|deleted))\b"
    r"|(?:shall\s+have|has)\s+no\s+(?:option|right)\s+to\s+(?:extend|renew)",
    re.I,
)
# A granted option is named as a defined term or heading ("Renewal Option", "EXTENSION
# OPTIONS", "Option to Extend"); a lower-case "option to extend ... up to 90 days" is not.
_OPTION_HEADING = re.compile(
    r"\b(?:Renewal|Extension|RENEWAL|EXTENSION)\s+(?:Options?|OPTIONS?)\b"
    r"(?!\W{0,3}(?:[Nn]one|NONE|[Nn]ot\s+[Aa]pplicable|N/A|[Ii]ntentionally|INTENTIONALLY))"
    r"|\b(?:Options?|OPTIONS?)\s+(?:to|TO)\s+(?:Renew|Extend|RENEW|EXTEND)\b"
)

_STATES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    "Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|"
    "Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|"
    "New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|"
    "Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|"
    "West Virginia|Wisconsin|Wyoming|Puerto Rico"
)
_LAW = re.compile(
    r"\b(this\s+(?:lease|agreement|sublease))\b[^.;]{0,160}?\b(?:governed|construed|interpreted|enforced)"
    r"[^.;]{0,140}?\blaws?\s+of\s+(?:the\s+)?"
    rf"(?:(?:state|commonwealth)\s+of\s+({_STATES})|(district\s+of\s+columbia)|({_STATES})\b"
    r"|((?:state|commonwealth|jurisdiction)\s+(?:in\s+which|where)\s+the\s+(?:leased\s+|demised\s+)?"
    r"(?:premises|building|property|project)\s+(?:is|are)\s+located))",
    re.I,
)
_USE_LABEL = r"permitted uses?|use of (?:the )?premises|permitted purpose"
_USE_CLAUSE = re.compile(
    r"\btenant\s+(?:shall|may)\s+use\s+(?:and\s+occupy\s+)?the\s+(?:leased\s+|demised\s+)?premises\s+"
    r"(?:solely\s+|only\s+|exclusively\s+)?for\s+(?:the\s+purposes?\s+of\s+)?(?!the\s+permitted)",
    re.I,
)
_USE_PREFIX = re.compile(r"^(?:subject\s+to\s+[^,]{0,60},\s*|shall\s+be\s+|means\s+|the\s+)+", re.I)
_USE_END = re.compile(
    r",?\s+(?:and|but)\s+for\s+no\s+other|\s+in\s+compliance\s+with|,\s+or\s+any\s+other", re.I
)
_USE_LIMIT = 400
_TRAILING_WORDS = re.compile(r"(?:\s+(?:in|and|or|of|for|with|the|a|an|to|by))+$", re.I)
# (code, pattern, the words each match begins with: see Corpus.finditer)
_CURRENCIES = (
    (
        "CAD",
        re.compile(r"\bcanadian\s+dollars\b|\bC\$\s?\d|\bCAD\s?\$?\d", re.I),
        ("canadian", "c$", "cad"),
    ),
    ("GBP", re.compile(r"£\s?\d|\bpounds\s+sterling\b|\bGBP\s?\d"), ("£", "pounds", "gbp")),
    ("EUR", re.compile(r"€\s?\d|\bEUR\s?\d"), ("€", "eur")),
)


@dataclass(frozen=True, slots=True)
class Deposit:
    """The security deposit amount and form."""

    amount: Found[float] | None
    form: Found[DepositForm] | None


def find_deposit(corpus: Corpus) -> Deposit:
    """Security deposit amount and form (cash, letter of credit, none, not stated)."""
    stated = (
        best(_labelled_deposits(corpus))
        or best(_defined_deposits(corpus))
        or best(_clause_deposits(corpus))
    )
    if stated is None:
        absent = _no_deposit_clause(corpus)
        return Deposit(None, absent)
    amount, form = stated.value
    evidence = stated.evidence
    if form == "cash" and corpus.search(_DEPOSIT_IN_LOC, ("security",)):
        form = "letter_of_credit"
    found_amount = None if amount is None else Found(amount, stated.confidence, evidence)
    return Deposit(found_amount, Found(form, stated.confidence, evidence))


def find_renewal_options(corpus: Corpus) -> Found[RenewalOption | None] | None:
    """Renewal/extension options as ``{count, years}``.

    ``Found(None)`` when the lease says there are none; ``{None, None}`` when it grants
    an option whose terms are not in the text (an exhibit left out of a filing).
    """
    granted = [*_counted_options(corpus), *_single_options(corpus)]
    found = corroborated(granted)
    if found is not None:
        return found
    refused = corpus.search(_NO_OPTION, _NO_OPTION_OPENINGS)
    if refused is not None:
        return Found(None, SOURCE_CONFIDENCE["label"], corpus.evidence(*refused.span()))
    mention = corpus.search(_OPTION_HEADING, ("renewal", "extension", "option"))
    if mention is not None:
        unknown = RenewalOption(count=None, years=None)
        return Found(unknown, 0.6, corpus.evidence(*mention.span()))
    return None


def find_permitted_use(corpus: Corpus) -> Found[str] | None:
    """The permitted use, in the lease's words (first sentence, at most 250 characters)."""
    candidates = [*_labelled_uses(corpus), *_clause_uses(corpus)]
    return best(candidates)


def find_governing_law(corpus: Corpus, address: str | None) -> Found[str] | None:
    """The governing law's jurisdiction ("California", "District of Columbia").

    "The laws of the state in which the Premises are located" resolves to the state of
    the premises address (marked derived).
    """
    candidates = [_law(corpus, match, address) for match in corpus.finditer(_LAW, ("this",))]
    leases = [c for c, subject in candidates if c is not None and "agreement" not in subject]
    others = [c for c, subject in candidates if c is not None and "agreement" in subject]
    # "This Agreement" in a lease is usually an exhibit form (an SNDA, a guaranty).
    return corroborated(leases) or (corroborated(others).scaled(0.8) if others else None)  # type: ignore[union-attr]


def find_currency(corpus: Corpus) -> Found[str] | None:
    """A currency other than USD, when the lease states amounts in one."""
    for code, pattern, openings in _CURRENCIES:
        matches = list(corpus.finditer(pattern, openings))
        if matches and len(matches) > corpus.text.count("$"):
            return Found(code, SOURCE_CONFIDENCE["clause"], corpus.evidence(*matches[0].span()))
    return None


# -- deposit --------------------------------------------------------------------------


def _labelled_deposits(corpus: Corpus) -> Iterator[Found[tuple[float | None, DepositForm]]]:
    for span in labelled(corpus, _DEPOSIT_LABEL, limit=300):
        value = span.text(corpus)
        label = corpus.text[span.quote_start : span.start].lower()
        confidence = SOURCE_CONFIDENCE[span.source]
        if _NONE_VALUE.match(value):
            evidence = corpus.evidence(span.quote_start, min(span.end, span.start + 40))
            yield Found((None, "none"), confidence, evidence)
            continue
        amount = _AMOUNT.search(value[:250])
        if amount is None:
            continue
        letter = _LETTER_OF_CREDIT.search(label) or _LETTER_OF_CREDIT.search(
            value[: amount.start()]
        )
        form: DepositForm = "letter_of_credit" if letter else "cash"
        evidence = corpus.evidence(span.quote_start, span.start + amount.end())
        yield Found((parse_amount(amount.group()), form), confidence, evidence)


def _clause_deposits(corpus: Corpus) -> Iterator[Found[tuple[float | None, DepositForm]]]:
    for match in corpus.finditer(_DEPOSIT_CLAUSE, ("security", "deposit")):
        start = sentence_start(corpus.text, match.start(), 200)
        sentence = corpus.text[start : match.end()]
        form: DepositForm = "letter_of_credit" if _LETTER_OF_CREDIT.search(sentence) else "cash"
        evidence = corpus.evidence(match.start(), match.end())
        yield Found((parse_amount(match.group(1)), form), SOURCE_CONFIDENCE["clause"], evidence)


def _defined_deposits(corpus: Corpus) -> Iterator[Found[tuple[float | None, DepositForm]]]:
    """A deposit defined inline: "... ($32,550.00) (the "Security Deposit")"."""
    for match in corpus.finditer(_DEPOSIT_DEFINED, ("$",)):
        start = sentence_start(corpus.text, match.start(), 200)
        form: DepositForm = (
            "letter_of_credit"
            if _LETTER_OF_CREDIT.search(corpus.text, start, match.end())
            else "cash"
        )
        evidence = corpus.evidence(start, match.end())
        yield Found((parse_amount(match.group(1)), form), SOURCE_CONFIDENCE["definition"], evidence)


def _no_deposit_clause(corpus: Corpus) -> Found[DepositForm] | None:
    match = corpus.search(_NO_DEPOSIT, ("shall", "no"))
    if match is None:
        return None
    return Found("none", SOURCE_CONFIDENCE["clause"], corpus.evidence(*match.span()))


# -- renewal --------------------------------------------------------------------------


def _counted_options(corpus: Corpus) -> Iterator[Found[RenewalOption | None]]:
    for pattern in (_RENEWAL_MANY, _RENEWAL_COUNTED):
        for match in _near_grants(corpus, pattern):
            count = count_value(match.group(1))
            months = duration_months(match.group(2))
            if count and months:
                option = RenewalOption(count=count, years=_years(months))
                yield Found(
                    option, _option_confidence(corpus, match), corpus.evidence(*match.span())
                )


def _near_grants(corpus: Corpus, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` around each "option/right to extend/renew" (searching the
    whole text with the count-and-duration patterns is slow)."""
    text = corpus.text
    searched_to = 0
    for grant_start, grant_end in _grants(corpus):
        start = max(searched_to, grant_start - 60)
        end = min(len(text), grant_end + 400)
        for match in pattern.finditer(text, start, end):
            searched_to = max(searched_to, match.end())
            yield match


def _grants(corpus: Corpus) -> list[tuple[int, int]]:
    """Every "option/right to extend/renew", found once for both renewal patterns."""
    if "grants" not in corpus.memo:
        found = corpus.finditer(_GRANT_WORDS, _GRANT_OPENINGS)
        corpus.memo["grants"] = [match.span() for match in found]
    return cast("list[tuple[int, int]]", corpus.memo["grants"])


def _single_options(corpus: Corpus) -> Iterator[Found[RenewalOption | None]]:
    """ "option to extend the Term for: (a) a period of five (5) years (the "First
    Renewal Term") ... (b) an additional five (5) year period (the "Second Renewal
    Term")": one option per ordinal-named term, else one."""
    for match in corpus.finditer(_RENEWAL_SINGLE, _GRANT_OPENINGS):
        months = duration_months(match.group(1))
        if not months:
            continue
        named = _ORDINAL_TERM.findall(corpus.text, match.start(), match.end() + 1200)
        ordinals = ["first", "second", "third", "fourth", "fifth"]
        count = max((ordinals.index(n.lower()) + 1 for n in named), default=1)
        option = RenewalOption(count=count, years=_years(months))
        yield Found(
            option, _option_confidence(corpus, match) * 0.95, corpus.evidence(*match.span())
        )


def _option_confidence(corpus: Corpus, match: re.Match[str]) -> float:
    before = corpus.text[max(0, match.start() - 200) : match.start()].lower()
    # Estoppel and SNDA forms in exhibits restate options with blanks; grants say "grants".
    return SOURCE_CONFIDENCE["label" if "option:" in before[-40:] else "clause"]


def _years(months: int) -> int | float:
    return months // 12 if months % 12 == 0 else round(months / 12, 2)


# -- use, law -------------------------------------------------------------------------


def _labelled_uses(corpus: Corpus) -> Iterator[Found[str]]:
    for span in labelled(corpus, _USE_LABEL, limit=400, through_semicolons=True):
        use = _clean_use(span.text(corpus))
        if use and not re.match(r"(?:see|as\s+(?:set\s+forth|defined))\b", use, re.I):
            evidence = corpus.evidence(span.quote_start, span.end)
            yield Found(use, SOURCE_CONFIDENCE[span.source], evidence)


def _clause_uses(corpus: Corpus) -> Iterator[Found[str]]:
    for match in corpus.finditer(_USE_CLAUSE, ("tenant",)):
        end = clause_end(corpus.text, match.end(), 250)
        use = _clean_use(corpus.text[match.end() : end])
        if use:
            yield Found(use, SOURCE_CONFIDENCE["clause"], corpus.evidence(match.start(), end))


def _clean_use(text: str) -> str:
    use = _USE_PREFIX.sub("", text.strip())
    cut = _USE_END.search(use)
    if cut:
        use = use[: cut.start()]
    use = _TRAILING_WORDS.sub("", use.strip(" ,.;:"))[:_USE_LIMIT].rstrip(" ,;:")
    return use[:1].upper() + use[1:] if len(use) >= 4 else ""


def _law(
    corpus: Corpus, match: re.Match[str], address: str | None
) -> tuple[Found[str] | None, str]:
    subject = match.group(1).lower()
    state = match.group(2) or match.group(3) or match.group(4)
    confidence = SOURCE_CONFIDENCE["clause"]
    if state is not None:
        name = "District of Columbia" if "columbia" in state.lower() else state.title()
        return Found(name, confidence, corpus.evidence(*match.span())), subject
    resolved = state_of(address) if address else None
    if resolved is None:
        return None, subject
    evidence = corpus.evidence(*match.span(), derived=True)
    return Found(resolved, confidence * 0.9, evidence), subject
