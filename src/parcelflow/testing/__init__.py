"""Test helpers shipped with parcelflow (fault-injection pipeline, loopback servers).

* :mod:`parcelflow.testing.faults`: the ``fault`` pipeline
  (``PARCELFLOW_PLUGINS=parcelflow.testing.faults``).
* :class:`ArcGISServer`: a real HTTP server on loopback serving a GeoJSON
  snapshot the way an ArcGIS REST feature layer does, with injectable
  :class:`Fault` answers, so users (and the benchmarks) can test offline.
  Run one with ``python -m parcelflow.testing.arcgis_server SNAPSHOT``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parcelflow.testing.arcgis_server import ArcGISServer, Fault, RequestRecord, serve

__all__ = ["ArcGISServer", "Fault", "RequestRecord", "serve"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that ``python -m parcelflow.testing.arcgis_server``
    # does not find its own module half-imported by this package (runpy warns).
    if name in __all__:
        from parcelflow.testing import arcgis_server

        return getattr(arcgis_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
