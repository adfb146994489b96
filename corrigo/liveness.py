"""Which process owns a running run, and whether it is still alive.

A run is stored ``running`` with its owner: ``"<host>/<pid>/<start>"``, where
``start`` is the process's start time in clock ticks since boot (from
``/proc/<pid>/stat``), so a recycled pid is not taken for the original process. A
``running`` run whose owner is on this host and gone is shown as ``interrupted``:
``corrigo resume`` continues it. An owner on another host cannot be checked from
here; its runs stay ``running`` until that host's corrigo (or ``--force``) resumes
them.
"""

from __future__ import annotations

import functools
import os
import socket

from corrigo.records import RunRecord


def _start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


@functools.cache
def current_owner() -> str:
    """This process, as a run owner."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_ticks(pid) or 0}"


def owner_alive(owner: str | None) -> bool | None:
    """True or False for an owner on this host; None when it cannot be told from here."""
    if not owner:
        return None
    host, _, rest = owner.partition("/")
    pid_text, _, start = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    if owner == current_owner():
        return True
    return _start_ticks(int(pid_text)) == start


def shown(record: RunRecord) -> RunRecord:
    """``record`` as users should see it: ``interrupted`` when its owner is gone."""
    if record.status == "running" and owner_alive(record.owner) is False:
        return record.model_copy(update={"status": "interrupted"})
    return record
