"""The 7 real EDGAR leases, read as text, against their hand-read gold abstracts.

The PDF and DOCX renderings and the CUAD non-lease check run in
``bench/lease_accuracy.py`` (they take longer than a unit test should).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from parcelflow.documents.reader import read_document
from parcelflow.pipelines.leases.abstract import abstract_lease
from parcelflow.pipelines.leases.evaluation import (
    Scoreboard,
    load_gold,
    score_document,
    target_failures,
)


@pytest.fixture(scope="module")
def leases(shared_data: Path) -> Path:
    folder = shared_data / "leases" / "edgar_ultradomain"
    if not (folder / "gold_abstracts.json").is_file():
        pytest.skip(f"gold lease abstracts not found in {folder}")
    return folder


def test_gold_leases_meet_the_precision_and_recall_targets(leases: Path) -> None:
    board = Scoreboard()
    for name, gold in sorted(load_gold(leases).items()):
        document = read_document((leases / name).read_bytes())
        abstract = abstract_lease(document)
        for field, evidence in abstract.evidence.items():
            assert evidence.text in document.pages[evidence.page - 1].text, (name, field)
        score_document(board, name, abstract.model_dump(mode="json"), gold)
    assert target_failures(board) == [], "\n".join(board.errors)
