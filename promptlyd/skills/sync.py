"""The skills folder is the truth: a start-up scan, then a live watch (SPEC §8).

``SkillSync`` keeps the ``skills`` rows in line with the files in the skills
folder. It scans once at start-up (new files → rows, vanished files → rows
with a "file deleted" problem, changed files → ``version + 1``), then watches
the folder (``promptlyd.skills.watch``: inotify on Linux, watchfiles elsewhere)
and re-syncs what changed; the API's writes go through
:class:`promptlyd.skills.write.SkillWriter`, under the same lock.

No write loop: an API write updates the file and the row together, so when
the watcher reports that write back the file parses to what the row already
holds and nothing changes (``skills_rows.plan_sync`` only bumps ``version``
when the meaning changed).

Idle cost: none with inotify (nothing wakes until the kernel reports a
change). With watchfiles its thread wakes every ``STEP_MS`` (300 ms: a change
is visible through the API within a second); shutting down sets the stop
event, which that thread sees within one step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from promptlyd.clock import Clock
from promptlyd.config import Config
from promptlyd.files import atomic_write
from promptlyd.skills.edit import render_skill
from promptlyd.skills.parse import (
    FolderScan,
    SkillPath,
    SkillProblem,
    scan_folder,
    slug_for,
)
from promptlyd.skills.plan import Plan, Row, Seen, plan_sync, read_skill_file, row_fields
from promptlyd.skills.watch import STEP_MS, Batch, FolderWatch, folder_watch
from promptlyd.store import AsyncStore, Store
from promptlyd.timeutil import iso

log = logging.getLogger("promptlyd.skills")

RETRY_SECONDS = 2.0

Fingerprint = tuple[int, int, int, int]


def _fingerprint(path: Path) -> Fingerprint | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _top(path: Path, root: Path) -> str | None:
    """The first path part below ``root`` (the skill a change belongs to), if any."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    return parts[0] if parts else None


def watch_filter(root: Path) -> Callable[[Path], bool]:
    """Changes that can matter: root entries and ``<dir>/SKILL.md``; no hidden files."""

    def keep(path: Path) -> bool:
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            return True
        if any(p.startswith(".") for p in parts):
            return False
        return len(parts) == 1 or (len(parts) == 2 and parts[1].lower() == "skill.md")

    return keep


class SkillSync:
    """Rows follow files. ``start`` scans and starts watching; ``stop`` stops."""

    def __init__(self, store: AsyncStore, clock: Clock, root: Path,
                 watch: FolderWatch | None = None) -> None:
        self.store = store
        self.clock = clock
        self.root = root
        self.watch = watch or folder_watch()
        self.lock = asyncio.Lock()  # one sync or API write at a time
        self._fingerprints: dict[Path, Fingerprint] = {}
        self._noted: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stop_watch = asyncio.Event()
        self._closing = False

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Scan the folder once (the API serves only after this), then watch it."""
        if await self._prepare(self.root):
            await self._export_rows_without_files()
        await self.sync(None)
        self._task = asyncio.create_task(self._watch_forever(), name="skills-watch")

    async def stop(self) -> None:
        self._closing = True
        self._stop_watch.set()  # the watch thread sees it within one step
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STEP_MS / 1000 * 5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def apply(self, config: Config) -> None:
        """A reloaded config (SIGHUP): follow a changed ``skills_dir``, else rescan the
        folder (SIGHUP also means "re-read the skills")."""
        if config.skills_dir != self.root:
            self.set_root(config.skills_dir)  # the watcher moves there and rescans
        else:
            await self.sync(None)

    def set_root(self, root: Path) -> None:
        """Follow a new ``skills_dir`` (SIGHUP): rescan there and watch it instead."""
        if root == self.root:
            return
        log.info("skills folder is now %s (was %s)", root, self.root)
        self.root = root
        self._fingerprints.clear()
        self._stop_watch.set()

    async def _prepare(self, root: Path) -> bool:
        try:
            await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            log.error("cannot create the skills folder %s: %s; fix the path (skills_dir in "
                      "the config) or its permissions", root, exc.strerror or exc)
            return False
        return True

    async def _export_rows_without_files(self) -> None:
        """Rows made before skills were files get their file, once."""
        root = self.root
        rows: list[Row] = await self.store.read(lambda s: s.list_rows("skills"))
        for row in rows:
            if row.get("path") or row.get("problem"):
                continue
            path = root / f"{row['slug']}.md"
            if path.exists() or (root / row["slug"]).exists():
                continue
            text = render_skill(row_fields(row), row["content"])
            await asyncio.to_thread(atomic_write, path, text)
            log.info("skill %s: written to %s (it had no file yet)", row["slug"], path)

    async def _watch_forever(self) -> None:
        while not self._closing:
            stop = self._stop_watch = asyncio.Event()  # set_root sets it to move on
            root = self.root
            try:
                await self._watch(root, stop)
            except Exception as exc:  # the watcher must never take the daemon down
                log.error("watching the skills folder %s failed: %s; retrying in %g s",
                          root, exc, RETRY_SECONDS)
                # _watch set `stop` on its way out: wait on a fresh event, or this spins
                retry = self._stop_watch = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(retry.wait(), RETRY_SECONDS)

    async def _watch(self, root: Path, stop: asyncio.Event) -> None:
        if not await self._prepare(root):
            raise OSError(f"no skills folder at {root}")
        changes = self.watch.batches(root, watch_filter(root), stop)
        batches = changes.__aiter__()
        pending: asyncio.Future[Batch] = asyncio.ensure_future(anext(batches))
        try:
            await asyncio.sleep(0)  # the watcher is set up on its first step
            await self.sync(None)  # catch what changed while nothing was watching
            while True:
                try:
                    batch = await pending
                except StopAsyncIteration:
                    return
                await self.sync(batch)
                if not root.is_dir():
                    log.warning("the skills folder %s was removed; creating it again", root)
                    return
                pending = asyncio.ensure_future(anext(batches))
        finally:
            stop.set()
            if not pending.done():
                pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
            await changes.aclose()

    # --- syncing ---------------------------------------------------------------------

    async def sync(self, dirty: set[Path] | None) -> Plan:
        """Bring the rows in line with the folder.

        Files are re-read when they changed (inode, size, times) or when the
        watcher reported a change under their name (``dirty``); the others are
        trusted to match their rows. Returns what was changed.
        """
        async with self.lock:
            root = self.root
            scan = await asyncio.to_thread(scan_folder, root)
            rows: list[Row] = await self.store.read(lambda s: s.list_rows("skills"))
            tops = None if dirty is None else {_top(p, root) for p in dirty}
            seen, present = await asyncio.to_thread(self._read, root, scan, rows, tops)
            now = iso(self.clock.now())
            plan = plan_sync(rows, seen, present, now=now, new_id=lambda: str(uuid.uuid4()))
            if plan.inserts or plan.updates:
                await self.store.write(lambda s: apply_plan(s, plan))
            for level, message in plan.log:
                log.log(level, "%s", message)
            self._note(scan.problems)
            return plan

    def _read(self, root: Path, scan: FolderScan, rows: list[Row],
              tops: set[str | None] | None) -> tuple[list[Seen], set[str]]:
        paths = {r["slug"]: r.get("path") for r in rows if not r.get("problem")}
        seen: list[Seen] = []
        present: set[str] = set()
        for sp in scan.skills:
            fingerprint = _fingerprint(sp.path)
            if fingerprint is None:
                continue  # gone since the listing
            present.add(sp.slug)
            trusted = (self._fingerprints.get(sp.path) == fingerprint
                       and paths.get(sp.slug) == str(sp.path)
                       and (tops is None or _top(sp.path, root) not in tops))
            if trusted:
                continue
            got = read_skill_file(sp.path, sp.slug, sp.layout)
            if got is None:
                present.discard(sp.slug)
                continue
            self._fingerprints[sp.path] = fingerprint
            seen.append(Seen(sp.slug, sp.path, got[1]))
        return seen, present

    def remember(self, path: Path) -> None:
        """Trust ``path`` as written: the API wrote it and updated its row."""
        fingerprint = _fingerprint(path)
        if fingerprint is not None:
            self._fingerprints[path] = fingerprint

    def _note(self, problems: Iterable[SkillProblem]) -> None:
        """Log each file that looks like a skill but is skipped, once while it lasts."""
        now = {(str(p.path), p.message) for p in problems}
        for path, message in sorted(now - self._noted):
            log.warning("skills folder: %s: %s", path, message)
        self._noted = now

    def skill_path(self, row: Row) -> SkillPath:
        """Where the row's file is (or is to be written) in the current folder."""
        root = self.root
        raw = row.get("path")
        if raw:
            path = Path(raw)
            hit = slug_for(path, root)
            if hit is not None and hit[0] == row["slug"]:
                return SkillPath(hit[0], hit[1], path)
        return SkillPath(row["slug"], "file", root / f"{row['slug']}.md")


def apply_plan(store: Store, plan: Plan) -> None:
    for row in plan.inserts:
        store.insert("skills", row)
    for row_id, changes in plan.updates:
        store.update("skills", row_id, changes)
