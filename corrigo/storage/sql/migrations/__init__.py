"""Versioned schema of the ``sql`` store: Alembic revisions run by the store itself.

``SQLStore.open()`` calls :func:`bring_to_head` on every database it opens, so no
``alembic.ini`` and no separate command are needed:

- an empty database is upgraded from the first revision;
- a database written by corrigo before migrations existed (its tables, no
  ``corrigo_alembic_version``) gets what 0001 lacks (0001 creates only missing tables,
  which amounts to stamping it) and then the later revisions, data included;
- a database at head is left alone;
- a database at a revision this corrigo does not know (written by a newer corrigo)
  is refused with StoreUnavailable instead of being touched.

Revisions live in ``versions/``: 0001 is the schema corrigo shipped first, 0002 what
owners, run filters and lesson counters need. To change the schema, edit
:mod:`corrigo.storage.sql.schema` and add a revision by hand or with autogenerate
against a scratch database at head::

    from alembic import command
    from corrigo.storage.sql.migrations import alembic_config
    command.upgrade(alembic_config(url="sqlite:////tmp/scratch.db"), "head")
    command.revision(alembic_config(url="sqlite:////tmp/scratch.db"),
                     "what changed", autogenerate=True, rev_id="0003")

``tests/test_migrations.py`` fails while the two disagree.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from corrigo.errors import StoreUnavailable
from corrigo.storage.sql.schema import HEAD_REVISION, VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent

# pg_advisory_xact_lock(key, hashtext(current_schema())): one migrating process per schema.
_PG_LOCK_KEY = 7242652


# Alembic keeps module-level state while it runs: one migration at a time per process
# (stores opened from several threads at once, e.g. a server's scratch replay stores).
_MIGRATING = threading.Lock()


def bring_to_head(engine: sa.Engine, writer: sa.Engine) -> None:
    """Migrate the database behind ``engine`` to head. A database already there costs
    one read and loads no Alembic code; otherwise :func:`upgrade_to_head` runs in a
    write transaction of ``writer`` (on SQLite: ``BEGIN IMMEDIATE``)."""
    with engine.connect() as conn:
        if sa.inspect(conn).has_table(VERSION_TABLE):
            version = sa.text(f"SELECT version_num FROM {VERSION_TABLE}")
            if conn.execute(version).scalars().all() == [HEAD_REVISION]:
                return
    with _MIGRATING, writer.begin() as conn:
        upgrade_to_head(conn)


def alembic_config(connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for these revisions, migrating ``connection`` (in the caller's
    transaction) or, for Alembic's own commands, a database by ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision id."""
    revision = _script().get_current_head()
    assert revision is not None, "no revisions in corrigo/storage/sql/migrations/versions"
    return revision


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at (None: not under migrations yet)."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade_to_head(connection: sa.Connection) -> None:
    """Bring the database to head inside the caller's transaction (committed by the
    caller). On PostgreSQL an advisory lock held to the end of that transaction lets
    one process migrate while others wait; on SQLite the caller's ``BEGIN IMMEDIATE``
    does the same. Raises StoreUnavailable for a revision this code does not know."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
            {"key": _PG_LOCK_KEY},
        )
    current = current_revision(connection)
    newest = head()
    if current == newest:
        return
    known = {script.revision for script in _script().walk_revisions()}
    if current is not None and current not in known:
        raise StoreUnavailable(
            f"the store's schema is at revision {current}, which this corrigo does not "
            f"know (its newest is {newest}): upgrade corrigo"
        )
    from alembic import command

    command.upgrade(alembic_config(connection), "head")
