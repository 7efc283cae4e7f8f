"""The skills folder watchers (``promptlyd.skills.watch``) on real folders."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import struct
import sys
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptlyd.skills import watch as w
from promptlyd.skills.sync import watch_filter

WAIT = 30.0  # generous: each wait is for a condition, not a fixed time

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")


def pack(wd: int, mask: int, name: str = "", pad: int = 0) -> bytes:
    raw = os.fsencode(name)
    length = len(raw) + pad + (1 if name or pad else 0)
    return struct.pack("iIII", wd, mask, 0, length) + raw.ljust(length, b"\0")


@given(st.lists(st.tuples(st.integers(1, 2**31 - 1), st.integers(0, 2**32 - 1),
                          st.text(st.characters(exclude_characters="\0/",
                                                exclude_categories=["Cs"]), max_size=40),
                          st.integers(0, 16)), max_size=20))
def test_events_parse_back_to_what_was_packed(records: list[tuple[int, int, str, int]]) -> None:
    buffer = b"".join(pack(wd, mask, name, pad) for wd, mask, name, pad in records)
    assert w.parse_events(buffer) == [w.Event(wd, mask, name) for wd, mask, name, _ in records]


def test_a_truncated_record_is_not_read_past() -> None:
    whole = pack(3, w.IN_CREATE, "a.md")
    assert w.parse_events(whole + whole[:10]) == [w.Event(3, w.IN_CREATE, "a.md")]


@linux_only
def test_linux_gets_inotify() -> None:
    assert isinstance(w.folder_watch(), w.InotifyWatch)


@pytest.fixture
def notify() -> Iterator[w._Inotify]:
    libc = w._libc()
    assert libc is not None
    descriptor = w._Inotify(libc)
    yield descriptor
    descriptor.close()


@linux_only
def test_watching_a_missing_folder_says_which_and_why(tmp_path: Path,
                                                      notify: w._Inotify) -> None:
    with pytest.raises(OSError) as info:
        notify.add(tmp_path / "nope")
    assert info.value.errno == errno.ENOENT
    assert f"watching {tmp_path / 'nope'}" in str(info.value)


@linux_only
def test_an_overflow_means_rescan_and_a_removed_root_ends_the_watch(
        tmp_path: Path, notify: w._Inotify) -> None:
    root_wd = notify.add(tmp_path)
    watcher = w.InotifyWatch()
    got, ended = watcher._take(notify, [w.Event(root_wd, w.IN_CREATE, "a.md"),
                                        w.Event(-1, w.IN_Q_OVERFLOW, "")], root_wd, tmp_path)
    assert got is None and not ended
    got, ended = watcher._take(notify, [w.Event(root_wd, w.IN_DELETE_SELF, "")],
                               root_wd, tmp_path)
    assert got == set() and ended


async def next_batch(batches: AsyncGenerator[w.Batch, None]) -> w.Batch:
    async with asyncio.timeout(WAIT):
        return await anext(batches)


async def until_watching(batches: AsyncGenerator[w.Batch, None]) -> asyncio.Task[w.Batch]:
    """Start waiting for the next batch; back once the watches are in place."""
    task = asyncio.ensure_future(anext(batches))
    for _ in range(10):  # loop turns, not time: setting up has no await before its wait
        await asyncio.sleep(0)
    assert not task.done()
    return task


@linux_only
async def test_inotify_reports_skill_files_and_nothing_while_idle(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    (root / "folder").mkdir(parents=True)
    stop = asyncio.Event()
    batches = w.InotifyWatch().batches(root, watch_filter(root), stop)
    loop = asyncio.get_running_loop()
    try:
        pending = await until_watching(batches)
        timers = len(getattr(loop, "_scheduled"))  # noqa: B009
        threads = set(os.listdir(f"/proc/{os.getpid()}/task"))
        for _ in range(50):
            await asyncio.sleep(0)
        # idle: no timer armed, no thread started, nothing reported
        assert len(getattr(loop, "_scheduled")) == timers  # noqa: B009
        assert set(os.listdir(f"/proc/{os.getpid()}/task")) == threads
        assert not pending.done()

        (root / ".hidden.md").write_text("x")  # left out by the filter …
        (root / "a.md").write_text("---\nname: A\n---\nbody\n")  # … this is not
        async with asyncio.timeout(WAIT):
            batch = await pending
        assert batch == {root / "a.md"}

        (root / "folder" / "SKILL.md").write_text("in a folder that was there")
        assert await next_batch(batches) == {root / "folder" / "SKILL.md"}

        pending = await until_watching(batches)
        (root / "new").mkdir()
        async with asyncio.timeout(WAIT):
            assert await pending == {root / "new"}
        # the new folder is watched too
        (root / "new" / "SKILL.md").write_text("later")
        (root / "new" / "notes.txt").write_text("not a skill file")
        assert await next_batch(batches) == {root / "new" / "SKILL.md"}

        (root / "a.md").rename(root / "b.md")
        moved = await next_batch(batches)
        assert moved is not None and {root / "a.md", root / "b.md"} <= moved
        shutil.rmtree(root / "folder")
        gone = await next_batch(batches)
        assert gone is not None and root / "folder" in gone
    finally:
        stop.set()
        await batches.aclose()


@linux_only
async def test_inotify_ends_on_stop_and_when_the_folder_goes(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    root.mkdir()
    stop = asyncio.Event()
    batches = w.InotifyWatch().batches(root, watch_filter(root), stop)
    pending = await until_watching(batches)
    stop.set()
    async with asyncio.timeout(WAIT):
        with pytest.raises(StopAsyncIteration):
            await pending

    batches = w.InotifyWatch().batches(root, watch_filter(root), asyncio.Event())
    pending = await until_watching(batches)
    shutil.rmtree(root)
    async with asyncio.timeout(WAIT):
        try:
            while True:  # what was in it may be reported first; then the watch ends
                await pending
                pending = asyncio.ensure_future(anext(batches))
        except StopAsyncIteration:
            pass


async def test_watchfiles_reports_a_skill_file(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    root.mkdir()
    stop = asyncio.Event()
    batches = w.WatchfilesWatch().batches(root, watch_filter(root), stop)
    try:
        pending = asyncio.ensure_future(anext(batches))
        path = root / "a.md"
        # its thread starts watching at some point after the first step: write until seen
        async with asyncio.timeout(WAIT):
            while not pending.done():
                path.write_text(f"---\nname: A\n---\n{os.urandom(4).hex()}\n")
                await asyncio.wait([pending], timeout=0.5)
        assert pending.result() == {path}
    finally:
        stop.set()
        await batches.aclose()


@linux_only
async def test_nothing_reads_or_wakes_on_the_descriptor_while_a_batch_is_out(
        tmp_path: Path) -> None:
    root = tmp_path / "skills"
    root.mkdir()
    batches = w.InotifyWatch().batches(root, watch_filter(root), asyncio.Event())
    selector = getattr(asyncio.get_running_loop(), "_selector")  # noqa: B009
    try:
        pending = await until_watching(batches)
        watched = set(selector.get_map())
        (root / "a.md").write_text("one")
        async with asyncio.timeout(WAIT):
            assert await pending == {root / "a.md"}
        # the batch is out (being synced): more changes come, nobody reads them yet —
        # the descriptor is off the selector, so it cannot wake the loop on every turn
        (root / "b.md").write_text("two")
        assert len(selector.get_map()) == len(watched) - 1
        assert await next_batch(batches) == {root / "b.md"}  # … and none is lost
    finally:
        await batches.aclose()


@linux_only
async def test_symlinked_skill_folders_are_watched_too(tmp_path: Path) -> None:
    root, elsewhere, later = tmp_path / "skills", tmp_path / "kept", tmp_path / "later"
    root.mkdir()
    elsewhere.mkdir()
    later.mkdir()
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    batches = w.InotifyWatch().batches(root, watch_filter(root), asyncio.Event())
    try:
        pending = await until_watching(batches)
        (elsewhere / "SKILL.md").write_text("edited where it lives")
        async with asyncio.timeout(WAIT):
            assert await pending == {root / "linked" / "SKILL.md"}
        (root / "late").symlink_to(later, target_is_directory=True)
        assert await next_batch(batches) == {root / "late"}
        (later / "SKILL.md").write_text("a link made after the start")
        assert await next_batch(batches) == {root / "late" / "SKILL.md"}
    finally:
        await batches.aclose()


@linux_only
def test_after_an_overflow_folders_made_meanwhile_are_watched(
        tmp_path: Path, notify: w._Inotify) -> None:
    root = tmp_path / "skills"
    (root / "old").mkdir(parents=True)
    notify.add(root)
    watcher = w.InotifyWatch()
    watcher._watch_subfolders(notify, root)
    (root / "new").mkdir()  # its creation "lost" in an overflow
    (root / ".hidden").mkdir()
    watcher._watch_subfolders(notify, root)
    assert sorted(notify.folders.values()) == [root, root / "new", root / "old"]
    watcher._add_new(notify, root / "gone")  # vanished again: quietly not watched
    assert root / "gone" not in notify.folders.values()
