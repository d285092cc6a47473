"""The embedded default: a private PostgreSQL (from the pgserver package) in a data folder."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import psycopg

from .queries import query

log = logging.getLogger(__name__)
DATABASE = "fapiao"  # the name queries.sql uses in embedded_database_exists / create_embedded_database


def start_embedded_postgres(data_dir: Path) -> tuple[str, Callable[[], None]]:
    """Start (or join) the private PostgreSQL under ``data_dir``; returns its URL and a stop function.

    pgserver keeps one server per data folder and stops it when the last process using it stops.
    """
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime folder as it is imported, and without XDG_RUNTIME_DIR (a
        # container, a service, `su`) platformdirs warns at every start that it falls back to a folder in /tmp.
        # Harmless here: pgserver keeps only a lock file there, and a socket when the data folder's path is long.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver  # server extra; imported here so nothing else pays for it

    # pgserver logs every command it runs, with its whole output, at INFO: a dozen screens of initdb and pg_ctl at
    # each start. Its warnings and errors still come through.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    pgdata = data_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting the embedded PostgreSQL in %s", pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute(query("embedded_database_exists")).fetchone():
            conn.execute(query("create_embedded_database"))
    return server.get_uri(DATABASE), server.cleanup
