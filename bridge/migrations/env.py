"""Alembic environment: migrates through the connection Store.migrate() passes in, or a URL."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from bridge.store.engine import create_store_engine
from bridge.store.tables import Base, UTCDateTime

config = context.config


def _render_item(type_: str, item: Any, autogen_context: Any) -> str | bool:
    # Migrations spell out the database type, so they never depend on application classes.
    if type_ == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    if context.is_offline_mode():
        raise SystemExit("calbridge migrations run online only (give a database URL)")
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_store_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


run_migrations()
