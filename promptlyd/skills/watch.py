"""Watching the skills folder: batches of changed paths, as they happen.

``FolderWatch`` is the role; ``batches(root, keep, stop)`` yields the set of paths
that changed (those ``keep`` accepts), or ``None`` for "anything may have changed:
rescan" (the kernel dropped events), and ends when ``stop`` is set or ``root``
itself goes away.

Two of them, picked by ``folder_watch()``:

- ``InotifyWatch`` (Linux): the kernel's inotify, read on the event loop
  (``add_reader``). Nothing wakes while nothing changes — no thread, no timer — so
  an idle daemon spends nothing on its skills. A batch is what arrives until the
  folder has been quiet for ``QUIET_S`` (at most ``MAX_BATCH_S`` after the first
  change). Skills live at most two levels down (``<slug>.md``, ``<dir>/SKILL.md``):
  the root and its first-level folders are watched.
- ``WatchfilesWatch`` (everywhere else: FSEvents, kqueue…): watchfiles, whose
  thread wakes every ``STEP_MS`` to look at its change set.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import struct
import sys
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger("promptlyd.skills")

Keep = Callable[[Path], bool]
Batch = set[Path] | None  # None: rescan everything

QUIET_S = 0.05
MAX_BATCH_S = 0.6
STEP_MS = 300  # watchfiles: a change is seen on the next step, confirmed on the one after
RUST_TIMEOUT_MS = 3_600_000  # watchfiles' thread never returns to Python for nothing

# <sys/inotify.h>
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ISDIR = 0x4000, 0x8000, 0x40000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
WATCH_MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
              | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)
_HEAD = struct.Struct("iIII")  # wd, mask, cookie, len


class FolderWatch(Protocol):
    def batches(self, root: Path, keep: Keep,
                stop: asyncio.Event) -> AsyncGenerator[Batch, None]:
        """What changed under ``root``, a batch at a time, until ``stop`` or ``root`` goes."""
        ...


def folder_watch() -> FolderWatch:
    """inotify where the kernel has it, else watchfiles."""
    if sys.platform.startswith("linux") and _libc() is not None:
        return InotifyWatch()
    return WatchfilesWatch()


# --- inotify ------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    wd: int
    mask: int
    name: str  # "" for an event on the watched folder itself


def parse_events(buffer: bytes) -> list[Event]:
    """The ``struct inotify_event`` records in what one ``read`` returned (pure)."""
    events: list[Event] = []
    offset = 0
    while offset + _HEAD.size <= len(buffer):
        wd, mask, _cookie, length = _HEAD.unpack_from(buffer, offset)
        start = offset + _HEAD.size
        raw = buffer[start:start + length].split(b"\0", 1)[0]
        events.append(Event(wd, mask, os.fsdecode(raw)))
        offset = start + length
    return events


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1  # noqa: B018 — only asking whether it is there
    except (OSError, AttributeError):
        return None
    return libc


class _Inotify:
    """One inotify descriptor and the folders it watches."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._libc = libc
        self.fd: int = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise _os_error("inotify_init1")
        self.folders: dict[int, Path] = {}

    def add(self, folder: Path) -> int:
        wd: int = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), WATCH_MASK)
        if wd < 0:
            raise _os_error(f"watching {folder}")
        self.folders[wd] = folder
        return wd

    def read(self) -> list[Event]:
        events: list[Event] = []
        while True:
            try:
                chunk = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return events
            if not chunk:
                return events
            events.extend(parse_events(chunk))

    def close(self) -> None:
        os.close(self.fd)


def _os_error(what: str) -> OSError:
    code = ctypes.get_errno()
    hint = (" (the per-user inotify watch limit: raise fs.inotify.max_user_watches)"
            if code == errno.ENOSPC else "")
    return OSError(code, f"{what}: {os.strerror(code)}{hint}")


class InotifyWatch:
    def __init__(self, quiet_s: float = QUIET_S, max_batch_s: float = MAX_BATCH_S) -> None:
        self.quiet_s = quiet_s
        self.max_batch_s = max_batch_s

    async def batches(self, root: Path, keep: Keep,
                      stop: asyncio.Event) -> AsyncGenerator[Batch, None]:
        libc = _libc()
        if libc is None:
            raise OSError("this system has no inotify")
        notify = _Inotify(libc)
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()

        def ready() -> None:
            # one-shot: while the batch is out being synced nobody reads the descriptor,
            # and a reader left on it would wake the loop on every turn until then
            loop.remove_reader(notify.fd)
            readable.set()

        def arm() -> None:
            readable.clear()
            loop.add_reader(notify.fd, ready)

        try:
            root_wd = notify.add(root)
            self._watch_subfolders(notify, root)
            while True:
                arm()
                if not await _first(readable, stop):
                    return
                batch: set[Path] | None = set()
                ended = False
                deadline = loop.time() + self.max_batch_s
                while True:  # gather until quiet, or the batch is old enough
                    got, ended = self._take(notify, notify.read(), root_wd, root)
                    batch = None if batch is None or got is None else batch | got
                    left = deadline - loop.time()
                    if ended or left <= 0:
                        break
                    arm()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(self.quiet_s, left)):
                            await readable.wait()
                            continue
                    break
                loop.remove_reader(notify.fd)
                if batch is None:
                    # the kernel dropped events: folders made meanwhile are watched now
                    self._watch_subfolders(notify, root)
                    yield None
                elif kept := {p for p in batch if keep(p)}:
                    yield kept
                if ended:
                    return
        finally:
            loop.remove_reader(notify.fd)
            notify.close()

    def _watch_subfolders(self, notify: _Inotify, root: Path) -> None:
        watched = set(notify.folders.values())
        for folder in _subfolders(root):
            if folder not in watched:
                self._add_new(notify, folder)

    def _add_new(self, notify: _Inotify, folder: Path) -> None:
        """Watch a folder that just appeared; one already gone again says so itself."""
        try:
            notify.add(folder)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                log.warning("skills folder %s is not watched: %s; changes in it are seen "
                            "at the next rescan (SIGHUP or restart)", folder, exc.strerror)

    def _take(self, notify: _Inotify, events: list[Event], root_wd: int,
              root: Path) -> tuple[set[Path] | None, bool]:
        """The paths these events touched (None: the kernel dropped some), and whether
        the root itself went away."""
        paths: set[Path] | None = set()
        ended = False
        for event in events:
            if event.mask & IN_Q_OVERFLOW:
                paths = None
                continue
            folder = notify.folders.get(event.wd)
            if folder is None:
                continue
            if event.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):
                if event.wd == root_wd:
                    ended = True
                elif paths is not None:
                    paths.add(folder)
                if event.mask & IN_IGNORED:
                    notify.folders.pop(event.wd, None)
                continue
            path = folder / event.name if event.name else folder
            if (event.mask & (IN_CREATE | IN_MOVED_TO) and folder == root
                    and not event.name.startswith(".")
                    and (event.mask & IN_ISDIR or os.path.isdir(path))):  # or a symlink to one
                self._add_new(notify, path)
            if paths is not None:
                paths.add(path)
        return paths, ended


def _subfolders(root: Path) -> list[Path]:
    with os.scandir(root) as entries:
        return [Path(e.path) for e in entries
                if not e.name.startswith(".") and e.is_dir()]  # symlinked folders too


async def _first(readable: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait for the descriptor to have events (True) or for ``stop`` (False)."""
    if stop.is_set():
        return False
    if readable.is_set():
        return True
    waits = [asyncio.ensure_future(readable.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    return not stop.is_set()


# --- watchfiles -----------------------------------------------------------------------

class WatchfilesWatch:
    async def batches(self, root: Path, keep: Keep,
                      stop: asyncio.Event) -> AsyncGenerator[Batch, None]:
        from watchfiles import Change, awatch

        def accept(_: Change, raw: str) -> bool:
            return keep(Path(raw))

        changes = awatch(root, watch_filter=accept, debounce=int(MAX_BATCH_S * 1000),
                         step=STEP_MS, rust_timeout=RUST_TIMEOUT_MS, stop_event=stop,
                         force_polling=False)
        try:
            async for batch in changes:
                yield {Path(p) for _, p in batch}
        finally:
            await changes.aclose()
