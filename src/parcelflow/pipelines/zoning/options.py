"""Options of the ``zoning`` pipeline (``parcelflow run zoning ... --key-field ZONING_ID``).

The CLI builds :class:`ZoningOptions` from ``--kebab-case`` flags; everything
else (planning, processing, the change report) reads its settings from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parcelflow.core.policies.ratelimit import parse_rate
from parcelflow.pipelines.zoning.diff import DiffSettings
from parcelflow.pipelines.zoning.normalize import Normalizers
from parcelflow.sources.http import HttpSettings

__all__ = ["ZoningOptions"]


class ZoningOptions(BaseModel):
    """What ``parcelflow run zoning`` and ``parcelflow zoning changes`` accept.

    Attributes:
        key_field: attribute identifying a feature across syncs (default: the
            layer's object-id field, or the GeoJSON feature ``id``).
        jurisdiction: who the layer belongs to (default: the URL's host or the file's stem).
        layer_name: the layer's identity across syncs (default: the layer URL,
            or the file name); give the same name to dated files of one layer.
        rate: requests per host, e.g. ``5/s`` or ``300/min``.
        max_in_flight: concurrent requests per host.
        page_size: features per page (capped at the server's ``maxRecordCount``).
        h3_res: H3 resolution of each feature's cell (0 to 15).
        zoning_field: the attribute holding the zoning code (``rezoned`` changes).
        reshape_tolerance_m: geometry moves up to this many metres are not reported.
        normalize: value normalisers, ``FIELD=name[,name]`` (see ``normalize.py``).
        strategy: force ArcGIS ``offset`` paging or ``ids`` chunks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_field: str | None = None
    jurisdiction: str | None = None
    layer_name: str | None = None
    rate: str = "5/s"
    max_in_flight: int = Field(default=4, ge=1, le=64)
    page_size: int | None = Field(default=None, ge=1)
    h3_res: int = Field(default=9, ge=0, le=15)
    zoning_field: str = "ZONING"
    reshape_tolerance_m: float = Field(default=0.01, ge=0)
    normalize: tuple[str, ...] = ()
    strategy: Literal["offset", "ids"] | None = None

    @field_validator("rate")
    @classmethod
    def _rate_parses(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("normalize")
    @classmethod
    def _normalizers_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        Normalizers.parse(value)
        return value

    def http_settings(self, **overrides: object) -> HttpSettings:
        """Client settings from ``rate`` and ``max_in_flight`` (plus ``overrides``)."""
        base = {"rate": parse_rate(self.rate), "max_in_flight": self.max_in_flight}
        return HttpSettings(**(base | overrides))  # type: ignore[arg-type]

    def diff_settings(
        self, key_field: str | None, ignore: frozenset[str] = frozenset()
    ) -> DiffSettings:
        """Comparison settings for the change report."""
        normalizers = Normalizers.parse(self.normalize).with_ignored(ignore)
        return DiffSettings(self.zoning_field, key_field, self.reshape_tolerance_m, normalizers)
