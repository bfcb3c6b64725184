"""Build the Datasette instance that serves an archive, for `threadvault serve` and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from datasette.app import Datasette

METADATA_DATABASE = "threadvault"  # metadata.yml is keyed by the default database's file stem
SETTINGS = {  # facets keep Datasette's own time limit: no page needs a facet past it
    "suggest_facets": False,  # suggested facets cost most of a table page on a large archive
    "sql_time_limit_ms": 3000,
}


def load_metadata(metadata_path: Path | None, db_path: Path) -> dict[str, Any]:
    """metadata.yml, re-keyed to the database's own name when it is not the default file."""
    if metadata_path is None:
        return {}
    metadata = yaml.safe_load(metadata_path.read_text(encoding="utf-8")) or {}
    databases = metadata.get("databases", {})
    if METADATA_DATABASE in databases and db_path.stem != METADATA_DATABASE:
        databases[db_path.stem] = databases.pop(METADATA_DATABASE)
    return metadata


def build_datasette(db_path: Path, metadata_path: Path | None) -> Datasette:
    """Datasette over one archive.  Its connections for queries are read-only."""
    return Datasette(
        [str(db_path)],
        metadata=load_metadata(metadata_path, Path(db_path)),
        settings=SETTINGS,
    )
