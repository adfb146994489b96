"""Alembic's entry point for corrigo's revisions (loaded by Alembic, not imported).

The store passes its open connection in ``config.attributes["connection"]`` and owns
the transaction; Alembic's own commands may pass ``sqlalchemy.url`` instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from corrigo.storage.sql.schema import VERSION_TABLE, metadata


def _migrate(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite alters most columns by copying the table: let autogenerate say so.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise SystemExit("corrigo's migrations run against a database, not as SQL scripts")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no connection and no sqlalchemy.url to migrate")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


_main()
