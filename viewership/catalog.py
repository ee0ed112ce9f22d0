"""PyIceberg access to the same Iceberg catalog that the Spark session mounts as ``lake``."""

from __future__ import annotations

from pyiceberg.catalog import Catalog
from pyiceberg.catalog import load_catalog as _load_catalog

from viewership.config import CATALOG, Settings, prepare_sqlite_catalog


def load_catalog(settings: Settings) -> Catalog:
    """Open the catalog named by the settings (SQLite-backed locally, REST on a cluster)."""
    prepare_sqlite_catalog(settings)
    return _load_catalog(CATALOG, **settings.pyiceberg_catalog_props())
