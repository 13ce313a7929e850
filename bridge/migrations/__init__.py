"""Alembic migrations of the store's schema (bridge.store.tables), run programmatically.

`Store.migrate()` applies them at start-up; nobody needs an alembic.ini. To write a new
migration after changing bridge/store/tables.py:

    python -m bridge.migrations --url sqlite:///scratch.db upgrade head
    python -m bridge.migrations --url sqlite:///scratch.db revision --autogenerate -m "what changed"

then read the generated file in bridge/migrations/versions/ (and use batch operations for
SQLite-incompatible ALTERs: env.py turns on render_as_batch for SQLite).
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic.config import Config

MIGRATIONS_PATH = Path(__file__).resolve().parent


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic Config for these migrations.

    Pass a connection in `config.attributes["connection"]` to migrate through it, or a
    `database_url` for Alembic to connect by itself (the command-line helper does that).
    """
    config = Config(stdout=sys.stdout)  # the current stdout, not the one at import time
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    config.set_main_option("path_separator", "os")
    if database_url is not None:
        # ConfigParser interpolation treats % specially (URL-encoded passwords contain it).
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config
