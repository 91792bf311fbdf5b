"""Where zoning features come from: an ArcGIS layer or a GeoJSON file/URL, in pages.

The engine integration uses these calls:

* :func:`plan_source` (async) or :func:`plan_source_blocking` (from sync code),
  once per run: metadata, count, and every page;
* :func:`page_submissions` / :func:`page_from_payload`: pages as job payloads;
* :func:`fetch_page_body` (async, the fetch stage of a page job);
* :func:`~parcelflow.pipelines.zoning.records.process_page_body` (the CPU stage,
  thread or process);
* :func:`~parcelflow.pipelines.zoning.store.commit_page` in the job-commit
  transaction, then :func:`~parcelflow.pipelines.zoning.store.finish_sync`.

Each :class:`ZoningPage` round-trips through a JSON payload and has a
deterministic key: the digest of the layer and the page's request, salted with
the sync id. The salt matters: without it next month's sync of the same layer
would ask for the very same pages and every job would be an idempotent no-op;
with it, a killed sync (same sync id, resumed) re-submits identical keys and
only uncommitted pages are fetched again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from parcelflow.core.pipeline import Submission
from parcelflow.errors import ConfigError, PermanentError, TransientError
from parcelflow.pipelines.zoning.options import ZoningOptions
from parcelflow.pipelines.zoning.records import PageBody
from parcelflow.sources import arcgis, geojson
from parcelflow.sources.http import HttpClient, HttpSettings

__all__ = [
    "SourceKind",
    "SourcePlan",
    "ZoningPage",
    "fetch_page_body",
    "page_from_payload",
    "page_submissions",
    "plan_source",
    "plan_source_blocking",
]

SourceKind = Literal["arcgis", "geojson"]
_DEFAULT_GEOJSON_PAGE = 500
_POLYGON_TYPES = {"esriGeometryPolygon", "esriGeometryMultiPatch"}


@dataclass(frozen=True, slots=True)
class ZoningPage:
    """One page job of a zoning sync.

    Attributes:
        kind: ``arcgis`` or ``geojson``.
        index: position in the plan, from 0.
        key_field: the attribute used as key (``None``: GeoJSON feature ``id``).
        arcgis: the layer page, for ArcGIS sources.
        geojson: the document slice, for GeoJSON sources.
    """

    kind: SourceKind
    index: int
    key_field: str | None
    arcgis: arcgis.LayerPage | None = None
    geojson: geojson.GeoJSONPage | None = None

    def key(self, sync_id: int) -> str:
        """The page's idempotency key within sync ``sync_id``."""
        if self.arcgis is not None:
            return self.arcgis.request.digest("zoning", str(sync_id))
        assert self.geojson is not None
        return self.geojson.digest("zoning", str(sync_id))

    def describe(self) -> str:
        """What a user recognises: the layer and the page number."""
        where = (
            self.arcgis.request.url
            if self.arcgis
            else (self.geojson.location if self.geojson else "")
        )
        return f"{where} page {self.index + 1}"

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form for a job payload."""
        body = self.arcgis.to_payload() if self.arcgis else None
        doc = self.geojson.to_payload() if self.geojson else None
        return {
            "kind": self.kind,
            "index": self.index,
            "key_field": self.key_field,
            "arcgis": body,
            "geojson": doc,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ZoningPage:
        """Inverse of :meth:`to_payload`."""
        kind: SourceKind = "arcgis" if payload["kind"] == "arcgis" else "geojson"
        layer = payload.get("arcgis")
        doc = payload.get("geojson")
        return cls(
            kind,
            int(payload["index"]),
            payload.get("key_field"),
            arcgis.LayerPage.from_payload(layer) if layer else None,
            geojson.GeoJSONPage.from_payload(doc) if doc else None,
        )


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """Everything known before the first page is fetched.

    Attributes:
        kind: ``arcgis`` or ``geojson``.
        source: what the user typed.
        layer: the layer's identity across syncs.
        jurisdiction: whose layer it is.
        key_field: the key attribute (``None``: GeoJSON feature ``id``).
        object_id_field: ArcGIS object-id field (ignored by change reports).
        expected_count: the count the finished sync is checked against.
        strategy: ``offset``, ``ids`` or ``slices`` (GeoJSON).
        pages: every page, in order.
    """

    kind: SourceKind
    source: str
    layer: str
    jurisdiction: str
    key_field: str | None
    object_id_field: str | None
    expected_count: int
    strategy: str
    pages: list[ZoningPage]


def _default_jurisdiction(source: str) -> str:
    if geojson.is_url(source):
        return urlsplit(source).hostname or source
    return Path(source).stem


async def _plan_arcgis(client: HttpClient, source: str, options: ZoningOptions) -> SourcePlan:
    plan = await arcgis.plan_layer(client, source, options.page_size, options.strategy)
    info = plan.info
    if info.geometry_type not in _POLYGON_TYPES:
        message = f"{info.url} holds {info.geometry_type or 'no'} geometry; zoning needs polygons"
        raise PermanentError(message, code="not_polygon_layer")
    _require_field(options.key_field, info.fields, info.url)
    key_field = options.key_field or info.object_id_field
    pages = [ZoningPage("arcgis", p.index, key_field, arcgis=p) for p in plan.pages]
    return SourcePlan(
        "arcgis",
        source,
        options.layer_name or info.url,
        options.jurisdiction or _default_jurisdiction(source),
        key_field,
        info.object_id_field,
        plan.count,
        plan.strategy,
        pages,
    )


def _require_field(key_field: str | None, fields: tuple[str, ...], url: str) -> None:
    if key_field is not None and fields and key_field not in fields:
        shown = ", ".join(fields[:12])
        raise ConfigError(f"--key-field {key_field} is not a field of {url}; fields: {shown}")


async def _plan_geojson(client: HttpClient, source: str, options: ZoningOptions) -> SourcePlan:
    plan = await geojson.plan_geojson(source, options.page_size or _DEFAULT_GEOJSON_PAGE, client)
    pages = [ZoningPage("geojson", p.index, options.key_field, geojson=p) for p in plan.pages]
    name = plan.location if geojson.is_url(plan.location) else Path(plan.location).name
    return SourcePlan(
        "geojson",
        source,
        options.layer_name or name,
        options.jurisdiction or _default_jurisdiction(source),
        options.key_field,
        None,
        plan.count,
        "slices",
        pages,
    )


async def plan_source(client: HttpClient, source: str, options: ZoningOptions) -> SourcePlan:
    """Plan a sync of ``source`` (an ArcGIS layer URL, or a GeoJSON file or URL).

    Raises:
        ConfigError: a usage error (a service URL without a layer number, a
            missing file, an unknown key field), with how to fix it.
        PermanentError: the source cannot be synced (unreachable host,
            not a layer, not polygons, invalid GeoJSON), with a code.
    """
    lowered = source.lower()
    is_arcgis = arcgis.is_layer_url(source) or (
        geojson.is_url(source) and ("/featureserver" in lowered or "/mapserver" in lowered)
    )
    try:
        if is_arcgis:
            return await _plan_arcgis(client, source, options)
        return await _plan_geojson(client, source, options)
    except TransientError as exc:
        # Planning is not a job the ledger can retry later: say why it failed, once.
        raise PermanentError(f"cannot read {source}: {exc.message}", code=exc.code) from exc


def plan_source_blocking(
    source: str, options: ZoningOptions, http: HttpSettings | None = None
) -> SourcePlan:
    """:func:`plan_source` for synchronous callers (a pipeline's ``submissions``).

    It runs on its own event loop in a helper thread, so it works whether or not
    the caller's thread is already running a loop.
    """

    async def plan() -> SourcePlan:
        async with HttpClient(http or options.http_settings()) as client:
            return await plan_source(client, source, options)

    with ThreadPoolExecutor(1, thread_name_prefix="zoning-plan") as pool:
        return pool.submit(asyncio.run, plan()).result()


async def fetch_page_body(client: HttpClient, page: ZoningPage) -> PageBody:
    """Fetch one page (the async stage of a page job); parsing is left to the CPU stage.

    Raises:
        TransientError: network or server trouble that outlasted in-call retries.
        PermanentError: the answer is not usable (an error the server will
            repeat, ``source_changed``).
    """
    if page.arcgis is not None:
        layer = page.arcgis
        answers = await arcgis.fetch_answers(client, layer)
        # Object ids are the server's row numbers, reassigned on a reload: keeping
        # them would make every feature look changed. Dropped unless they are the key.
        drop = (layer.object_id_field,) if page.key_field != layer.object_id_field else ()
        return PageBody(
            "esri",
            answers=answers.bodies,
            fallback_crs=layer.native_crs,
            key_field=page.key_field,
            exceeded=answers.exceeded and layer.last,
            drop_fields=drop,
        )
    if page.geojson is None:
        raise PermanentError("page names neither a layer nor a document", code="bad_payload")
    document = await geojson.read_page(page.geojson, client)
    return PageBody(
        "geojson", features=tuple(document.features), crs=document.crs, key_field=page.key_field
    )


def page_submissions(plan: SourcePlan, sync_id: int) -> Iterator[Submission]:
    """One submission per page of ``plan``, keyed for sync ``sync_id`` (lazily)."""
    for page in plan.pages:
        payload = {"sync_id": sync_id, "page": page.to_payload()}
        yield Submission(source=page.describe(), payload=payload, key=page.key(sync_id))


def page_from_payload(payload: Mapping[str, Any]) -> tuple[int, ZoningPage]:
    """The sync id and page of a payload made by :func:`page_submissions`.

    Raises:
        PermanentError: the payload is not a zoning page (``bad_payload``).
    """
    try:
        return int(payload["sync_id"]), ZoningPage.from_payload(payload["page"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"not a zoning page payload: {exc!r}", code="bad_payload") from exc
