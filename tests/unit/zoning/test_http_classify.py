"""What HTTP answers mean: retry, give up, or use (pure classification, no sockets)."""

from __future__ import annotations

import email.utils

import pytest

from parcelflow.errors import PermanentError, TransientError
from parcelflow.sources.http import (
    Request,
    classify_status,
    decode_json,
    error_in_body,
    parse_retry_after,
)


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("120", now=0.0) == 120.0


def test_retry_after_as_http_date_counts_from_now() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now) == pytest.approx(30.0)


def test_retry_after_in_the_past_means_now() -> None:
    header = email.utils.formatdate(1_000.0, usegmt=True)
    assert parse_retry_after(header, now=2_000.0) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "-5"])
def test_retry_after_unreadable_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, now=0.0) is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_transient_and_carry_retry_after(status: int) -> None:
    error = classify_status(status, retry_after=7.0)
    assert isinstance(error, TransientError)
    assert error.code == f"http_{status}"
    assert error.retry_after == 7.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 501])
def test_other_errors_are_permanent(status: int) -> None:
    error = classify_status(status, retry_after=None)
    assert isinstance(error, PermanentError)
    assert error.code == f"http_{status}"


@pytest.mark.parametrize("status", [200, 204, 304])
def test_success_is_no_error(status: int) -> None:
    assert classify_status(status, None) is None


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>Maintenance</body></html>", "application/json"),
        (b'{"a": 1}', "text/html; charset=utf-8"),
        (b"  \n<!DOCTYPE html>", ""),
    ],
)
def test_html_where_json_was_asked_is_transient(body: bytes, content_type: str) -> None:
    with pytest.raises(TransientError) as caught:
        decode_json(body, content_type)
    assert caught.value.code == "html_body"


def test_truncated_json_is_transient() -> None:
    with pytest.raises(TransientError) as caught:
        decode_json(b'{"features": [', "application/json")
    assert caught.value.code == "bad_json"


def test_error_object_in_a_200_is_transient_by_default() -> None:
    body = {"error": {"code": 400, "message": "Unable to complete operation.", "details": []}}
    error = error_in_body(body)
    assert isinstance(error, TransientError)
    assert error.code == "error_in_200"
    assert "Unable to complete operation" in error.message


@pytest.mark.parametrize("code", [401, 403, 498, 499])
def test_token_and_permission_errors_are_permanent(code: int) -> None:
    error = error_in_body({"error": {"code": code, "message": "Token Required"}})
    assert isinstance(error, PermanentError)
    assert error.code == "access_denied"


def test_invalid_url_error_is_permanent_not_found() -> None:
    error = error_in_body({"error": {"code": 400, "message": "Invalid URL", "details": []}})
    assert isinstance(error, PermanentError)
    assert error.code == "not_found"


@pytest.mark.parametrize("doc", [{"features": []}, [1, 2], {"error": "text only"}, None])
def test_documents_without_an_error_object(doc: object) -> None:
    assert error_in_body(doc) is None


def test_request_digest_is_deterministic_and_salted() -> None:
    request = Request("GET", "https://gis.example/FeatureServer/0/query", (("f", "json"),))
    twin = Request("GET", "https://gis.example/FeatureServer/0/query", (("f", "json"),))
    assert request.digest("sync", "1") == twin.digest("sync", "1")
    assert request.digest("sync", "1") != request.digest("sync", "2")
    assert len(request.digest()) == 64


def test_request_round_trips_through_a_payload() -> None:
    request = Request("POST", "https://gis.example/query", (("objectIds", "1,2"), ("f", "json")))
    assert Request.from_payload(request.to_payload()) == request
    assert request.host == "gis.example"
