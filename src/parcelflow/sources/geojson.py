"""GeoJSON files and URLs read in pages, with the structure checked.

A GeoJSON document cannot be paged by its server, so the whole document is read
once to plan (count its features, digest its bytes) and each page is a slice
``[offset, offset + limit)`` of the features. The digest goes into each page so
that a page read from a document that changed since planning fails clearly
(``source_changed``) instead of mixing two versions. Parsed documents are
cached (a few, by location and digest) so pages do not re-parse the file.

Structure is checked per RFC 7946: a ``FeatureCollection`` whose ``features`` is
a list (a lone ``Feature`` is accepted as a collection of one). Features are
checked later, one by one, so one bad feature does not sink the document. The
old (2008) ``crs`` member is honoured when present.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from parcelflow.errors import ConfigError, PermanentError
from parcelflow.sources.http import HttpClient, Request

__all__ = [
    "GeoJSONDocument",
    "GeoJSONPage",
    "GeoJSONPlan",
    "is_url",
    "parse_document",
    "plan_geojson",
    "plan_pages",
    "read_page",
]

_CACHE_SIZE = 4


def is_url(location: str) -> bool:
    """Is ``location`` an http(s) URL rather than a path?"""
    return urlsplit(location).scheme in {"http", "https"}


@dataclass(frozen=True, slots=True)
class GeoJSONDocument:
    """A parsed GeoJSON document.

    Attributes:
        features: the raw feature objects, unchecked.
        crs: the CRS named by a 2008-style ``crs`` member, else ``None`` (RFC 7946: WGS84).
        sha256: digest of the document's bytes.
    """

    features: list[Any]
    crs: str | None
    sha256: str


def _named_crs(doc: Mapping[str, Any]) -> str | None:
    crs = doc.get("crs")
    if not isinstance(crs, Mapping):
        return None
    name = (crs.get("properties") or {}).get("name")
    return name if isinstance(name, str) and name else None


def parse_document(body: bytes, location: str) -> GeoJSONDocument:
    """Parse and check the structure of a GeoJSON document.

    Raises:
        PermanentError: ``invalid_json`` or ``invalid_geojson``, with the reason.
    """
    digest = hashlib.sha256(body).hexdigest()
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise PermanentError(f"{location}: not JSON: {exc}", code="invalid_json") from exc
    if not isinstance(doc, dict):
        raise PermanentError(f"{location}: GeoJSON must be an object", code="invalid_geojson")
    kind = doc.get("type")
    if kind == "Feature":
        return GeoJSONDocument([doc], _named_crs(doc), digest)
    if kind != "FeatureCollection":
        message = f"{location}: expected a FeatureCollection, found type {kind!r}"
        raise PermanentError(message, code="invalid_geojson")
    if not isinstance(doc.get("features"), list):
        message = f"{location}: FeatureCollection has no features list"
        raise PermanentError(message, code="invalid_geojson")
    return GeoJSONDocument(doc["features"], _named_crs(doc), digest)


@dataclass(frozen=True, slots=True)
class GeoJSONPage:
    """A slice of a GeoJSON document's features.

    Attributes:
        location: absolute path or URL.
        sha256: digest of the document when the page was planned.
        index: position in the plan, from 0.
        offset: first feature of the page.
        limit: most features in the page.
    """

    location: str
    sha256: str
    index: int
    offset: int
    limit: int

    def digest(self, *salt: str) -> str:
        """Deterministic key of the page (document digest, slice and ``salt``)."""
        canonical = json.dumps([self.location, self.sha256, self.offset, self.limit, list(salt)])
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form for a job payload."""
        return {
            "location": self.location,
            "sha256": self.sha256,
            "index": self.index,
            "offset": self.offset,
            "limit": self.limit,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> GeoJSONPage:
        """Inverse of :meth:`to_payload`."""
        return cls(
            str(payload["location"]),
            str(payload["sha256"]),
            int(payload["index"]),
            int(payload["offset"]),
            int(payload["limit"]),
        )


@dataclass(frozen=True, slots=True)
class GeoJSONPlan:
    """How a GeoJSON document will be read: its digest, size and pages."""

    location: str
    sha256: str
    count: int
    crs: str | None
    pages: list[GeoJSONPage]


def plan_pages(location: str, sha256: str, count: int, size: int) -> list[GeoJSONPage]:
    """Pages of ``size`` features covering ``count`` features."""
    if size < 1:
        raise ConfigError(f"page size must be at least 1, got {size}")
    return [
        GeoJSONPage(location, sha256, index, index * size, size)
        for index in range(math.ceil(count / size))
    ]


class _DocumentCache:
    """A few parsed documents, by location and digest, shared by the page readers."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], GeoJSONDocument] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, location: str, sha256: str) -> GeoJSONDocument | None:
        with self._lock:
            item = self._items.get((location, sha256))
            if item is not None:
                self._items.move_to_end((location, sha256))
            return item

    def put(self, location: str, document: GeoJSONDocument) -> None:
        with self._lock:
            self._items[(location, document.sha256)] = document
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_CACHE = _DocumentCache(_CACHE_SIZE)


def _resolve(location: str) -> str:
    if is_url(location):
        return location
    path = Path(location).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"{location}: no such file; give a GeoJSON file or an http(s) URL")
    return str(path)


async def _load(location: str, client: HttpClient | None) -> GeoJSONDocument:
    if is_url(location):
        if client is None:
            raise ConfigError("reading a GeoJSON URL needs an HTTP client")
        body = await client.content(Request("GET", location))
    else:
        try:
            body = await asyncio.to_thread(Path(location).read_bytes)
        except OSError as exc:
            raise PermanentError(f"{location}: cannot read: {exc}", code="unreadable") from exc
    document = parse_document(body, location)
    _CACHE.put(location, document)
    return document


async def plan_geojson(
    location: str, page_size: int, client: HttpClient | None = None
) -> GeoJSONPlan:
    """Read a GeoJSON file or URL once and plan its pages.

    Raises:
        ConfigError: the file does not exist.
        PermanentError: the document is not GeoJSON (``invalid_json``, ``invalid_geojson``).
    """
    resolved = _resolve(location)
    document = await _load(resolved, client)
    pages = plan_pages(resolved, document.sha256, len(document.features), page_size)
    return GeoJSONPlan(resolved, document.sha256, len(document.features), document.crs, pages)


async def read_page(page: GeoJSONPage, client: HttpClient | None = None) -> GeoJSONDocument:
    """The features of one page (a document holding only the page's slice).

    Raises:
        PermanentError: ``source_changed`` when the document is not the one planned.
    """
    document = _CACHE.get(page.location, page.sha256) or await _load(page.location, client)
    if document.sha256 != page.sha256:
        message = f"{page.location} changed since the sync was planned; run the sync again"
        raise PermanentError(message, code="source_changed")
    chunk = document.features[page.offset : page.offset + page.limit]
    return GeoJSONDocument(chunk, document.crs, document.sha256)
