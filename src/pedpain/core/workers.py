"""Worker processes that never outlive their parent, and a pool that Ctrl-C stops at once.

A parent killed by anything (SIGKILL, the out-of-memory killer, a closed terminal) cannot
clean up, so each worker watches its parent itself: on Linux the kernel sends it SIGKILL
when the parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a watchdog thread polls the
parent's pid. Once the workers are gone, multiprocessing's resource tracker sees its pipe
close and exits too, so a crash leaves no process behind.

Ctrl-C reaches every process of the terminal's foreground group. Workers ignore it and
leave the decision to the parent, which cancels what is queued, ends the workers and
lets ``KeyboardInterrupt`` reach the command line (exit code 130).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

_PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the parent where the kernel cannot signal its death.
WATCHDOG_INTERVAL = 0.5


def die_with_parent(parent_pid: int) -> str:
    """Make this process end when ``parent_pid`` (its parent) ends; return how."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            ok = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            ok = False
        if ok:
            if os.getppid() != parent_pid:
                os._exit(1)  # the parent died before the request took effect
            return "pdeathsig"
    thread = threading.Thread(
        target=_watch, args=(parent_pid,), name="pedpain-parent-watchdog", daemon=True
    )
    thread.start()
    return "watchdog"


def _watch(parent_pid: int) -> None:
    while True:
        time.sleep(WATCHDOG_INTERVAL)
        if not _parent_alive(parent_pid):
            os._exit(1)


def _parent_alive(parent_pid: int) -> bool:
    if os.name == "nt":  # no reparenting on Windows: ask whether the process still runs
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x00100000, False, parent_pid)  # SYNCHRONIZE
        if not handle:
            return False
        try:
            return bool(kernel32.WaitForSingleObject(handle, 0) != 0)  # 0: it has ended
        finally:
            kernel32.CloseHandle(handle)
    return os.getppid() == parent_pid  # an orphan is adopted by another process


def _init_worker(
    parent_pid: int, initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


@contextlib.contextmanager
def process_pool(
    workers: int,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[cf.ProcessPoolExecutor]:
    """A spawn-based process pool whose workers die with the parent.

    Leaving the block normally waits for the submitted work. Leaving it by an exception
    (``KeyboardInterrupt`` from Ctrl-C included) cancels what is queued and ends the
    workers at once, then re-raises.
    """
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(), initializer, initargs),
    )
    try:
        yield pool
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def stop_pool(pool: cf.ProcessPoolExecutor, grace: float = 2.0) -> None:
    """Cancel queued work and end the pool's workers now (SIGTERM, then SIGKILL)."""
    # The executor has no public way to end running work; its process table is the only
    # handle on the workers.
    table = getattr(pool, "_processes", None)
    processes = list(table.values()) if isinstance(table, dict) else []
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
