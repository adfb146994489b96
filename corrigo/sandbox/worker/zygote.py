"""The zygote: the process that forks testers for the worker.

The worker forks it at start, before it has read any job, and asks it for a tester over
a socket pair whenever it wants one: a single-use tester (:func:`.tester.tester_main`)
or a resident one (:func:`.resident.resident_main`). The zygote sends back the tester's
pid and the worker's ends of its two pipes. Testers are forked from the zygote, not from
the worker, so nothing the worker has held of tests, results or output is in a tester's
memory (or in a candidate's).
"""

from __future__ import annotations

import os
import signal
import socket
import traceback

from .containment import PR_SET_PDEATHSIG, keep_only, prctl
from .resident import resident_main
from .tester import tester_main


def start_zygote() -> socket.socket:
    """Fork the zygote; the worker's end of the socket it takes requests on."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.fork() == 0:
        mine.close()
        zygote_main(theirs)
    theirs.close()
    return mine


def request_tester(zygote: socket.socket, kind: bytes) -> tuple[int, int, int]:
    """A tester from the zygote (``b"t"`` single-use, ``b"r"`` resident):
    (pid, control fd, results fd)."""
    zygote.sendall(kind)
    message, fds, _, _ = socket.recv_fds(zygote, 16, 2)
    if len(message) != 4 or len(fds) != 2:
        raise RuntimeError("the zygote failed")
    return int.from_bytes(message, "big"), fds[0], fds[1]


def zygote_main(sock: socket.socket) -> None:
    """The zygote: forks testers on the worker's request and hands it their pipes.

    Forked before the worker saw any job, it never holds a test, a result or a candidate's
    output, so neither does any tester it forks (nor the candidates those fork before
    reading their tests)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    keep_only(sock.fileno())
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # testers are collected by the kernel
    mains = {b"t": tester_main, b"r": resident_main}
    while True:
        kind = sock.recv(1)
        if kind not in mains:
            os._exit(0)
        control_r, control_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # T waits for its candidates
                os.setsid()
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 1)
                os.dup2(control_r, 0)
                os.dup2(res_w, 3)
                os.closerange(4, 65536)
                mains[kind](0, 3)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(0)
        socket.send_fds(sock, [pid.to_bytes(4, "big")], [control_w, res_r])
        for fd in (control_r, control_w, res_r, res_w):
            os.close(fd)
