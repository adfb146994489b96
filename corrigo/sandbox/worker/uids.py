"""The uids of the worker's job slots, each cleared before it is handed out again.

As root, every job's candidates run under a uid of their own, taken from ``SLOT_UIDS``.
When the job ends, the sweeper (:func:`.containment.sweeper_main`) kills every process
left in that uid, and only when it replies is the uid free for another job. The worker
never waits for a sweep: replies arrive on a pipe its loop watches.
"""

from __future__ import annotations

import contextlib
import os

from .containment import SLOT_UIDS, fork_sweeper, kill_uid


class Uids:
    def __init__(self) -> None:
        self.free = list(SLOT_UIDS)
        self.sweeping: set[int] = set()  # sent to the sweeper, not yet cleared
        self.requests = self.replies = -1  # pipes to the sweeper, once started

    def start_sweeper(self) -> None:
        """The process that clears finished jobs' uids (root only)."""
        self.requests, self.replies = fork_sweeper()

    def sweep(self, uid: int) -> None:
        """Clear ``uid`` without waiting: it is free again once the sweeper says so."""
        try:
            os.write(self.requests, uid.to_bytes(4, "big"))
            self.sweeping.add(uid)
        except OSError:  # no sweeper (it died): do it here
            kill_uid(uid)
            self.free.append(uid)

    def swept(self, data: bytes) -> None:
        """The sweeper's replies; on its end, every pending sweep is done here."""
        if not data:
            os.close(self.replies)
            self.replies = -1
            with contextlib.suppress(OSError):
                os.close(self.requests)
            self.requests = -1
            for uid in sorted(self.sweeping):
                kill_uid(uid)
            data = b"".join(uid.to_bytes(4, "big") for uid in sorted(self.sweeping))
        for i in range(0, len(data) - 3, 4):
            uid = int.from_bytes(data[i : i + 4], "big")
            self.sweeping.discard(uid)
            self.free.append(uid)
