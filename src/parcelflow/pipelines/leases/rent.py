"""Base rent: the rent schedule table and the rent of its first period.

Tables reach us flattened to a stream of tokens ("Lease Months 1-12 $415,724.40
$34,643.70* $4.55 Lease Months 13-24 ..."), with headers scrambled by the layout, so
columns are identified by arithmetic rather than by header text:

* two amounts where one is 12 x the other are the monthly and the annual rent;
* a small amount that times the rentable area gives the annual (or monthly) rent is the
  per-square-foot rate, on an annual (or monthly) basis;
* a row that cannot be solved on its own (a final partial month with "N/A" annual)
  takes its columns' roles from the rows that could.

Row labels may be explicit ("Lease Months 13-24", "Year 2", "Months 5-12") or bare
("13-24", or 1, 2, 3 ... under a "Lease Year" header).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from parcelflow.pipelines.leases.corpus import Corpus
from parcelflow.pipelines.leases.fields import Found
from parcelflow.pipelines.leases.model import Evidence, RentRow, rent_consistent
from parcelflow.pipelines.leases.numbers import AMOUNT_PATTERN, parse_amount
from parcelflow.pipelines.leases.spans import (
    SOURCE_CONFIDENCE,
    clause_end,
    labelled,
    sentence_start,
    summary_region,
)

__all__ = ["InitialRent", "RentTable", "find_initial_rent", "find_rent_table", "parse_table"]

Basis = Literal["annual", "monthly"]
Role = Literal["monthly", "annual", "per_sf"]

_ANCHOR = re.compile(
    r"\b(?:base|basic|fixed|minimum|net|annual|monthly)\s+(?:annual\s+|monthly\s+|fixed\s+)?"
    r"rent(?:al)?\b|\brent\s+schedule\b|\brental\s+rate\b|\bschedule\s+of\s+(?:base\s+)?rent",
    re.I,
)
_ANCHOR_OPENINGS = (
    "base", "basic", "fixed", "minimum", "net", "annual", "monthly", "rent", "schedule",
)  # fmt: skip
_NOT_BASE_RENT = re.compile(
    r"renewal|extension|option\s+term|expansion|parking|storage|holdover|first\s+offer"
    r"|first\s+refusal|temporary",
    re.I,
)
_TOKEN = re.compile(
    r"(?P<label>(?:lease\s+)?(?:months?|years?)\s+\d{1,3}(?:\s*(?:-|to|through|thru)\s*\d{1,3})?\*?)(?!\d)"
    r"|(?P<range>\d{1,3}\s*-\s*\d{1,3}\*?)(?![\d,/])"
    r"|(?P<money>\$\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?\*?)(?![\d,])"
    # A figure with cents is an amount even when a row leaves the "$" to the first line.
    r"|(?P<cents>(?:\d{1,3}(?:,\d{3})+|\d+)\.\d\d\*?)(?![\d,])"
    r"|(?P<na>N/A|-0-|--)(?!\w)"
    r"|(?P<plain>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\*?)(?![\d,])"
    r"|(?P<word>\S+)",
    re.I,
)
_NUMBERS = re.compile(r"\d+")
_ROW_HINT = re.compile(r"(?:month|year)s?\s+\d|\d\s*-\s*\d", re.I)
# A bare number as a "plain" token reads it (not "1.5", "1,000" or "1-12").
_BARE_NUMBER = re.compile(r"(?<!\S)\d{1,3}\*?(?![\d,]|\.\d)")
_FIGURE = re.compile(r"\d\.\d\d\b")
_SCAN = 2_500
"""How far after a rent anchor a table may start (a header sits in between)."""
_MAX_HEADER_WORDS = 60
_AREA_SLACK = 0.01
"""Rates are rounded to the cent: rate x area misses the rent by well under 1%."""


@dataclass(slots=True)
class _Row:
    labels: list[tuple[int, int, bool]]  # (first, last, explicit unit is year)
    cells: list[float | None] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class _Roles:
    by_index: dict[int, Role]
    basis: Basis | None
    verified: bool


@dataclass(frozen=True, slots=True)
class RentTable:
    """A parsed rent schedule.

    Attributes:
        rows: periods in month order.
        basis: whether the per-square-foot column is an annual or a monthly rate.
        verified: share of rows whose columns were proved by arithmetic.
        start: start of the table in the corpus (its first row).
        end: end of the table.
        first_row_end: end of the first row (the initial rent's evidence).
    """

    rows: tuple[RentRow, ...]
    basis: Basis | None
    verified: float
    start: int
    end: int
    first_row_end: int


@dataclass(frozen=True, slots=True)
class InitialRent:
    """Rent for the first period, with whichever of its figures the lease gives."""

    monthly: Found[float] | None
    annual: Found[float] | None
    per_sf_annual: Found[float] | None


def find_rent_table(
    corpus: Corpus, *, area: float | None = None, term_months: int | None = None
) -> Found[RentTable] | None:
    """The base rent schedule: the first rent table that is not about renewals,
    expansions or parking, preferring one in the summary block."""
    region = summary_region(corpus)
    found: list[Found[RentTable]] = []
    scanned_to = 0
    for anchor in corpus.finditer(_ANCHOR, _ANCHOR_OPENINGS):
        if anchor.start() < scanned_to or not _has_figures(corpus.text, anchor.end()):
            continue
        table = parse_table(corpus.text, anchor.end(), area=area, term_months=term_months)
        context = sentence_start(corpus.text, anchor.start(), 150)
        if table is None or _NOT_BASE_RENT.search(corpus.text, context, table.start):
            continue
        scanned_to = table.end
        found.append(_as_found(corpus, table, region))
    return max(found, key=lambda item: item.confidence, default=None)


def _has_figures(text: str, start: int) -> bool:
    """Cheap test before parsing: a table needs at least two amounts with cents nearby."""
    return len(_FIGURE.findall(text, start, start + _SCAN)) >= 2


def find_initial_rent(
    corpus: Corpus, table: Found[RentTable] | None, area: float | None = None
) -> InitialRent:
    """Monthly, annual and annual-per-square-foot rent for the first period."""
    if table is not None and table.value.rows[0].from_month == 1:
        return _initial_from_table(corpus, table)
    return _initial_from_labels(corpus, area)


def parse_table(
    text: str, start: int, *, area: float | None = None, term_months: int | None = None
) -> RentTable | None:
    """Parse the first rent table beginning within :data:`_SCAN` characters of ``start``."""
    if not _may_have_rows(text, start):
        return None
    rows, header = _read_rows(text, start)
    if not rows:
        return None
    year_unit = _header_counts_years(header)
    periods = [_months(row, year_unit) for row in rows]
    if not _in_order(periods):
        return None
    roles = _solve(rows, area)
    if roles is None:
        return None
    table_rows = _to_rent_rows(rows, periods, roles, term_months)
    if not table_rows:
        return None
    basis = _basis(roles)
    verified = sum(1 for r in roles if r.verified) / len(roles)
    return RentTable(tuple(table_rows), basis, verified, rows[0].start, rows[-1].end, rows[0].end)


# -- reading rows ---------------------------------------------------------------------


def _may_have_rows(text: str, start: int) -> bool:
    """False when no token after ``start`` can begin a row, so there is no table.

    Most rent anchors head prose, not a table, and reading tokens one by one is the cost
    of this module. A row begins with a ``label`` or ``range`` token, whose text holds
    what :data:`_ROW_HINT` finds, or with a bare number whose value is 1 (the first row of
    a 1, 2, 3 ... run). Such a number starts a token only after a space (or at
    ``start``): every token that is not a word ends before a character that is not a
    digit, and a word runs to the next space.
    """
    end = min(len(text), start + _SCAN)
    if _ROW_HINT.search(text, start, end):
        return True
    first = _BARE_NUMBER.match(text, start, end)
    numbers = _BARE_NUMBER.finditer(text, start, end)
    return any(int(m.group().rstrip("*")) == 1 for m in (first, *numbers) if m is not None)


def _read_rows(text: str, start: int) -> tuple[list[_Row], str]:
    """Rows of the first table after ``start`` and the header text before it."""
    rows: list[_Row] = []
    current: _Row | None = None
    header: list[str] = []
    expected = 1
    for token in _TOKEN.finditer(text, start, min(len(text), start + _SCAN)):
        kind = token.lastgroup or "word"
        value = token.group()
        if kind == "plain" and _is_sequence_label(value, expected, current, rows):
            kind = "seq"
        if kind in ("label", "range", "seq"):
            current = _start_row(rows, current, token, kind, header)
            expected = current.labels[-1][1] + 1 if kind == "seq" else -1
        elif current is None:
            header.append(value)
            if kind == "word" and len(header) > _MAX_HEADER_WORDS:
                header = header[-_MAX_HEADER_WORDS:]
        elif kind in ("money", "na", "cents"):
            current.cells.append(None if kind == "na" else parse_amount(value))
            current.end = token.end()
        elif kind == "plain":
            current.plain.append(float(value.rstrip("*").replace(",", "")))
        elif current.cells:
            break  # a word after a row's cells ends the table
        else:
            current = None  # a label followed by words was prose, not a row
            header.append(value)
    if current is not None and current.cells:
        rows.append(current)
    return [row for row in rows if any(c is not None for c in row.cells)], " ".join(header)


def _is_sequence_label(value: str, expected: int, current: _Row | None, rows: list[_Row]) -> bool:
    """A bare integer labels a row when it is the next number of a 1, 2, 3 ... run."""
    if expected < 1 or not re.fullmatch(r"\d{1,3}\*?", value):
        return False
    if int(value.rstrip("*")) != expected:
        return False
    if expected == 1:
        return current is None and not rows
    return current is not None and any(c is not None for c in current.cells)


def _start_row(
    rows: list[_Row], current: _Row | None, token: re.Match[str], kind: str, header: list[str]
) -> _Row:
    label = _label(token.group(), kind)
    if current is not None and not current.cells:
        current.labels.append(label)  # "Year 1 Months 1-4 Months 5-12": one group
        return current
    if current is not None:
        rows.append(current)
    return _Row([label], start=token.start(), end=token.end())


def _label(text: str, kind: str) -> tuple[int, int, bool]:
    numbers = [int(n) for n in _NUMBERS.findall(text)]
    first, last = numbers[0], numbers[-1]
    return first, last, kind == "label" and "year" in text.lower()


def _header_counts_years(header: str) -> bool:
    lowered = header.lower()
    has_year = re.search(r"\byears?\b", lowered) is not None
    has_month = re.search(r"\bmonths?\b", lowered) is not None
    return has_year and not has_month


def _months(row: _Row, year_unit: bool) -> list[tuple[int, int]]:
    """Month ranges of a row (several for a group like "Year 1 Months 1-4 Months 5-12")."""
    labels = row.labels
    explicit_months = [lab for lab in labels[1:] if not lab[2]]
    if len(labels) > 1 and explicit_months:
        return [(first, last) for first, last, _ in explicit_months]
    first, last, is_year = labels[-1]
    if is_year or (year_unit and not _explicit_month_label(row)):
        return [(12 * (first - 1) + 1, 12 * last)]
    return [(first, last)]


def _explicit_month_label(row: _Row) -> bool:
    return len(row.labels) > 1


def _in_order(periods: Sequence[list[tuple[int, int]]]) -> bool:
    flat = [period for group in periods for period in group]
    if flat[0][0] != 1:
        return False
    return all(b[0] == a[1] + 1 and b[1] >= b[0] for a, b in pairwise(flat))


# -- solving columns ------------------------------------------------------------------


def _solve(rows: list[_Row], area: float | None) -> list[_Roles] | None:
    """Roles of each row's cells; ``None`` when too few rows can be solved."""
    solved = [_solve_row(row.cells, _row_area(row, area)) for row in rows]
    learned = _learn_positions([r for r in solved if r is not None and r.verified])
    width = Counter(len(row.cells) for row in rows).most_common(1)[0][0]
    roles: list[_Roles] = []
    for row, result in zip(rows, solved, strict=True):
        chosen = result if result is not None and result.by_index else None
        chosen = chosen or _by_position(row.cells, learned, width)
        if chosen is None:
            return None
        roles.append(chosen)
    return roles


def _row_area(row: _Row, area: float | None) -> float | None:
    # A table's own area column ("RSF 30,085") is the figure its rates were applied to.
    in_row = [value for value in row.plain if value >= 100]
    return in_row[0] if in_row else area


def _solve_row(cells: list[float | None], area: float | None) -> _Roles | None:
    values = [(i, v) for i, v in enumerate(cells) if v is not None and v > 0]
    pair = _monthly_annual_pair(values)
    if pair is not None:
        monthly, annual = pair
        roles: dict[int, Role] = {monthly: "monthly", annual: "annual"}
        rate = _rate_cell(values, roles)
        basis = _rate_basis(cells, rate, monthly, annual, area) if rate is not None else None
        if rate is not None:
            roles[rate] = "per_sf"
        return _Roles(roles, basis, True)
    return _solve_with_area(values, area)


def _monthly_annual_pair(values: list[tuple[int, float]]) -> tuple[int, int] | None:
    for i, small in values:
        for j, large in values:
            if i != j and large > small and rent_consistent(small, large):
                return i, j
    return None


def _rate_cell(values: list[tuple[int, float]], taken: dict[int, Role]) -> int | None:
    largest = max(v for _, v in values)
    rates = [i for i, v in values if i not in taken and v < 1000 and v * 50 < largest]
    return rates[0] if len(rates) == 1 else None


def _rate_basis(
    cells: list[float | None], rate: int, monthly: int, annual: int, area: float | None
) -> Basis | None:
    if area is None:
        return None
    product = (cells[rate] or 0.0) * area
    if _close(product, cells[annual] or 0.0):
        return "annual"
    if _close(product, cells[monthly] or 0.0):
        return "monthly"
    return None


def _solve_with_area(values: list[tuple[int, float]], area: float | None) -> _Roles | None:
    """One rent figure and a rate: the area tells monthly from annual."""
    if area is None or len(values) != 2:
        return None
    (i, a), (j, b) = values
    rate, rent = ((i, a), (j, b)) if a < b else ((j, b), (i, a))
    if _close(rate[1] * area / 12, rent[1]):
        return _Roles({rent[0]: "monthly", rate[0]: "per_sf"}, "annual", True)
    return None


def _close(value: float, target: float) -> bool:
    return target > 0 and abs(value - target) <= _AREA_SLACK * target


def _learn_positions(solved: list[_Roles]) -> dict[int, Role]:
    votes: dict[int, Counter[Role]] = {}
    for roles in solved:
        for index, role in roles.by_index.items():
            votes.setdefault(index, Counter())[role] += 1
    return {index: counter.most_common(1)[0][0] for index, counter in votes.items()}


def _by_position(cells: list[float | None], learned: dict[int, Role], width: int) -> _Roles | None:
    """Roles from the columns of the solved rows, for a row laid out the same way."""
    if len(cells) != width:
        return None
    roles: dict[int, Role] = {
        i: learned[i] for i, v in enumerate(cells) if v is not None and i in learned
    }
    return _Roles(roles, None, False) if roles else None


def _basis(roles: list[_Roles]) -> Basis | None:
    votes = Counter(r.basis for r in roles if r.basis is not None)
    return votes.most_common(1)[0][0] if votes else None


# -- building the schedule ------------------------------------------------------------


def _to_rent_rows(
    rows: list[_Row], periods: list[list[tuple[int, int]]], roles: list[_Roles], term: int | None
) -> list[RentRow]:
    result: list[RentRow] = []
    for row, months, role in zip(rows, periods, roles, strict=True):
        result.extend(_split_group(row.cells, months, role))
    if result and term is not None and term >= result[-1].from_month:
        # The last period runs to the end of the term (a partial final Lease Year, or
        # "*Lease Year 3 shall consist of fourteen (14) months").
        result[-1] = result[-1].model_copy(update={"to_month": term})
    elif result:
        result[-1] = _partial_last_period(result[-1])
    return result


def _partial_last_period(row: RentRow) -> RentRow:
    """A final Lease Year whose "annual" figure is the total of fewer months.

    Schedules state the last, partial year's total ($7,379,845.00 = 10 x $737,984.50):
    when annual / monthly is a whole number below 12, the period is that many months.
    """
    if row.monthly is None or row.annual is None or rent_consistent(row.monthly, row.annual):
        return row
    months = round(row.annual / row.monthly)
    if (
        1 <= months < row.to_month - row.from_month + 1
        and abs(months * row.monthly - row.annual) <= 1.0
    ):
        return row.model_copy(update={"to_month": row.from_month + months - 1})
    return row


def _split_group(
    cells: list[float | None], months: list[tuple[int, int]], role: _Roles
) -> Iterator[RentRow]:
    if len(months) == 1:
        yield _row(months[0], cells, role.by_index)
        return
    for sub_cells, period in zip(_arrange(cells, len(months)), months, strict=True):
        solved = _solve_row(sub_cells, None)
        yield _row(period, sub_cells, solved.by_index if solved else {})


def _arrange(cells: list[float | None], parts: int) -> list[list[float | None]]:
    """Cells of a group split per sub-period, column-major or row-major, whichever the
    arithmetic confirms (cells of a merged table cell are often read column by column)."""
    if len(cells) % parts:
        return [cells] * parts
    width = len(cells) // parts
    by_column = [cells[i::parts] for i in range(parts)]
    by_row = [cells[i * width : (i + 1) * width] for i in range(parts)]

    def score(groups: list[list[float | None]]) -> int:
        """How many sub-periods the arrangement lets arithmetic solve."""
        return sum(1 for g in groups if _solve_row(g, None) is not None)

    return by_column if score(by_column) > score(by_row) else by_row


def _row(period: tuple[int, int], cells: list[float | None], roles: dict[int, Role]) -> RentRow:
    picked: dict[Role, float | None] = {"monthly": None, "annual": None, "per_sf": None}
    for index, role in roles.items():
        if index < len(cells):
            picked[role] = cells[index]
    return RentRow(
        from_month=period[0],
        to_month=period[1],
        monthly=picked["monthly"],
        annual=picked["annual"],
        per_sf=picked["per_sf"],
    )


def _as_found(corpus: Corpus, table: RentTable, region: tuple[int, int] | None) -> Found[RentTable]:
    inside = region is not None and region[0] <= table.start < region[1]
    base = SOURCE_CONFIDENCE["summary" if inside else "definition"]
    confidence = base * (0.75 + 0.25 * table.verified)
    evidence = corpus.evidence(table.start, min(table.end, table.start + 400))
    return Found(table, round(confidence, 4), evidence)


# -- the initial rent -----------------------------------------------------------------


def _initial_from_table(corpus: Corpus, table: Found[RentTable]) -> InitialRent:
    first = table.value.rows[0]
    evidence = corpus.evidence(table.value.start, table.value.first_row_end)
    derived = corpus.evidence(table.value.start, table.value.first_row_end, derived=True)
    read = table.confidence
    monthly = _found(first.monthly, read, evidence)
    annual = _found(first.annual, read, evidence)
    if monthly is None and annual is not None:
        monthly = Found(round(annual.value / 12, 2), read * 0.9, derived)
    if annual is None and monthly is not None:
        annual = Found(round(monthly.value * 12, 2), read * 0.9, derived)
    return InitialRent(monthly, annual, _per_sf_annual(first, table, evidence, derived))


def _per_sf_annual(
    first: RentRow, table: Found[RentTable], evidence: Evidence, derived: Evidence
) -> Found[float] | None:
    rate, basis = first.per_sf, table.value.basis
    if rate is None or basis is None:
        return None
    if basis == "annual":
        return Found(rate, table.confidence, evidence)
    return Found(round(rate * 12, 2), table.confidence * 0.9, derived)


def _found(value: float | None, confidence: float, evidence: Evidence) -> Found[float] | None:
    return None if value is None else Found(value, confidence, evidence)


_STATED_RENT = re.compile(
    rf"({AMOUNT_PATTERN})\)?\s*(?:dollars\s*)?(?:\([^)]{{0,40}}\)\s*)?"
    r"(per\s+month|monthly|each\s+month|a\s+month|per\s+annum|per\s+year|annually|a\s+year)\b",
    re.I,
)
_RENT_LABEL = (
    r"(?:annual |monthly )?(?:base|basic|fixed|minimum|net)(?: annual| monthly)? rent(?:al)?"
    r"(?: as of [^:]{0,40})?"
)
_INSTALLMENTS = re.compile(
    r"monthly\s+installments?\s*,?\s+(?:of|in\s+the\s+(?:amount|sum)\s+of|equal\s+to)\s+"
    rf"[^$.;]{{0,120}}?({AMOUNT_PATTERN})",
    re.I,
)
_RENT_WORD = re.compile(r"\brent(?:al)?\b", re.I)
_NOT_THE_RENT = re.compile(
    r"additional\s+rent|late|interest|square\s+f|\bpsf\b|\brsf\b|insurance|deposit|tax|parking"
    r"|holdover|hold\s+over|renewal|extension|option|storage|penalt|fee\b",
    re.I,
)
_AMOUNTS = re.compile(AMOUNT_PATTERN)


def _initial_from_labels(corpus: Corpus, area: float | None) -> InitialRent:
    """No schedule: a rent stated as "Base Rent: $X per month" / "$X per annum"."""
    monthly: Found[float] | None = None
    annual: Found[float] | None = None
    for span in labelled(corpus, _RENT_LABEL):
        stated = _STATED_RENT.search(span.text(corpus))
        if stated is None or "square" in span.text(corpus)[: stated.end() + 20].lower():
            continue
        value = parse_amount(stated.group(1))
        evidence = corpus.evidence(span.quote_start, span.start + stated.end())
        found = Found(value or 0.0, SOURCE_CONFIDENCE[span.source] * 0.9, evidence)
        if "month" in stated.group(2).lower():
            monthly = monthly or found
        else:
            annual = annual or found
        if monthly and annual:
            break
    if monthly is None and annual is None:
        return _initial_from_clauses(corpus)
    return InitialRent(monthly, annual, None)


def _initial_from_clauses(corpus: Corpus) -> InitialRent:
    """Rent stated in a sentence: "monthly installments of $2,000.00", "rent in the
    amount of ... ($3,200.00) per month", "annual ... rent ... ($34,008.50) ... payable in
    equal monthly installments of ... ($2,834.04)"."""
    for sentence_span in _rent_sentences(corpus):
        found = _rent_in_sentence(corpus, *sentence_span)
        if found.monthly is not None or found.annual is not None:
            return found
    return InitialRent(None, None, None)


def _rent_sentences(corpus: Corpus) -> Iterator[tuple[int, int]]:
    seen = -1
    for word in _RENT_WORD.finditer(corpus.text):
        start = sentence_start(corpus.text, word.start(), 300)
        if start <= seen:
            continue
        seen = start
        end = clause_end(corpus.text, word.end(), 500)
        text = corpus.text[start:end]
        if _AMOUNTS.search(text) and not _NOT_THE_RENT.search(text):
            yield start, end


def _rent_in_sentence(corpus: Corpus, start: int, end: int) -> InitialRent:
    text = corpus.text[start:end]
    confidence = SOURCE_CONFIDENCE["clause"] * 0.95
    evidence = corpus.evidence(start, end)
    amounts = [parse_amount(m.group()) or 0.0 for m in _AMOUNTS.finditer(text)]
    pair = [(a, m) for a in amounts for m in amounts if m < a and rent_consistent(m, a)]
    if pair:
        annual, monthly = pair[0]
        return InitialRent(
            Found(monthly, confidence, evidence), Found(annual, confidence, evidence), None
        )
    installment = _INSTALLMENTS.search(text) or _STATED_RENT.search(text)
    if installment is None or (
        installment.re is _STATED_RENT and "month" not in installment.group(2).lower()
    ):
        return InitialRent(None, None, None)
    value = parse_amount(installment.group(1)) or 0.0
    return InitialRent(Found(value, confidence, evidence), None, None)
