"""Test helpers shipped with parcelflow, so users can test offline against them.

:class:`ArcGISServer` is a real HTTP server on loopback that serves a GeoJSON
snapshot the way an ArcGIS REST feature layer does, with injectable faults.
Run one from the command line with ``python -m parcelflow.testing.arcgis_server``.
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
