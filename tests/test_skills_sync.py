"""The skills folder is the truth: the real daemon follows files created, edited,
renamed and deleted on disk, writes API changes into the files, and survives
broken files. Plus the pure reconcile rules (``skills_rows.plan_sync``)."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from promptlyd.skills.parse import SkillProblem, parse_skill
from promptlyd.skills.plan import DELETED, Seen, columns_for, plan_sync
from tests.daemon_proc import DaemonProcess
from tests.daemon_proc import wait_for as poll

T = TypeVar("T")
LIVE = 1.0  # a change on disk shows up through the API within this many seconds
SKILLS = "/api/promptly/skills"
SENTINEL = "zz-sentinel-"


def wait_for(fn: Callable[[], T | None], timeout: float = LIVE, what: str = "") -> T:
    return poll(fn, timeout, what)


def by_slug(api: httpx.Client) -> dict[str, dict[str, Any]]:
    r = api.get(SKILLS)
    assert r.status_code == 200, r.text
    return {s["slug"]: s for s in r.json() if not s["slug"].startswith(SENTINEL)}


def skill_where(api: httpx.Client, slug: str,
                test: Callable[[dict[str, Any]], bool] = lambda s: True,
                timeout: float = LIVE) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        skill = by_slug(api).get(slug)
        return skill if skill is not None and test(skill) else None

    return wait_for(probe, timeout, f"skill {slug!r}")


def settle(api: httpx.Client, folder: Path, n: list[int] = [0]) -> None:  # noqa: B006
    """Wait until the watcher has processed everything written so far.

    A new sentinel file shows up only after every earlier event was handled,
    so a write loop (or an echo that bumps the version) would be visible now.
    """
    n[0] += 1
    slug = f"{SENTINEL}{n[0]}"
    (folder / f"{slug}.md").write_text(f"---\nname: {slug}\n---\n\nsentinel\n")
    wait_for(lambda: any(s["slug"] == slug for s in api.get(SKILLS).json()), what=slug)


def start(daemon_factory: Any, folder: Path, extra: str = "") -> DaemonProcess:
    d: DaemonProcess = daemon_factory(config=f'skills_dir = "{folder}"\n{extra}').start()
    return d


# --- the daemon follows the folder ----------------------------------------------------------


def test_disk_changes_show_up_within_a_second(daemon_factory: Any, tmp_path: Path) -> None:
    folder = tmp_path / "skills"
    d = start(daemon_factory, folder)
    assert folder.is_dir()  # created at start-up
    with d.client() as api:
        assert api.get(SKILLS).json() == []
        # created
        (folder / "tone.md").write_text(
            "---\nname: Tone\ndescription: How to sound\ncategory: writing\n"
            "tags: [style, voice]\nauthor: me\n---\n\nBe warm.\n")
        tone = skill_where(api, "tone")
        assert (tone["name"], tone["content"], tone["version"]) == ("Tone", "Be warm.", 1)
        assert tone["description"] == "How to sound" and tone["category"] == "writing"
        assert tone["frontmatter"] == {"author": "me", "tags": ["style", "voice"]}
        assert tone["path"] == str(folder / "tone.md") and "problem" not in tone
        # edited: version + 1, updatedAt follows, the id stays
        (folder / "tone.md").write_text("---\nname: Tone\n---\n\nBe warmer.\n")
        edited = skill_where(api, "tone", lambda s: s["version"] == 2)
        assert edited["id"] == tone["id"] and edited["content"] == "Be warmer."
        assert edited["updatedAt"] > tone["updatedAt"] and "description" not in edited
        # the same meaning written again (a touch, a save without changes): no new version
        (folder / "tone.md").write_text("---\nname:   Tone\n---\n\nBe warmer.\n")
        settle(api, folder)
        assert by_slug(api)["tone"]["version"] == 2
        # a folder skill (Agent Skills layout); files in references/ are not skills
        (folder / "plan").mkdir()
        (folder / "plan" / "references").mkdir()
        (folder / "plan" / "references" / "more.md").write_text("# not a skill\n")
        (folder / "plan" / "SKILL.md").write_text(
            "---\nname: plan\ndescription: Plan the week.\n---\n\nMake a plan.\n")
        plan = skill_where(api, "plan")
        assert plan["path"] == str(folder / "plan" / "SKILL.md")
        assert set(by_slug(api)) == {"tone", "plan"}
        # renamed: the row follows the file (same id, so tasks keep it)
        os.rename(folder / "tone.md", folder / "voice.md")
        voice = skill_where(api, "voice")
        assert voice["id"] == tone["id"] and voice["version"] == 2
        assert "tone" not in by_slug(api)
        os.rename(folder / "plan", folder / "weekly-plan")
        moved = skill_where(api, "weekly-plan")
        assert moved["id"] == plan["id"] and moved["path"].endswith("weekly-plan/SKILL.md")
        # deleted: kept with a problem (attached tasks fail clearly), then back again
        (folder / "voice.md").unlink()
        gone = skill_where(api, "voice", lambda s: "problem" in s)
        assert gone["problem"] == f"{DELETED}{folder / 'voice.md'}"
        assert gone["id"] == tone["id"] and gone["content"] == "Be warmer."
        (folder / "voice.md").write_text("---\nname: Voice\n---\n\nBe warm again.\n")
        back = skill_where(api, "voice", lambda s: "problem" not in s)
        assert back["id"] == tone["id"] and back["version"] == 3
    log = d.log()
    assert "skill tone: added from" in log and "skill voice: renamed from tone" in log
    assert "skill voice: file deleted" in log


def test_ids_survive_restarts_offline_edits_and_a_new_folder(
    daemon_factory: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "skills"
    folder.mkdir()
    for slug in ("keep", "edit", "drop"):
        (folder / f"{slug}.md").write_text(f"---\nname: {slug}\n---\n\n{slug} body\n")
    d = start(daemon_factory, folder)
    with d.client() as api:
        assert set(by_slug(api)) == {"keep", "edit", "drop"}  # scanned before serving
        r = api.post(SKILLS, json={"name": "legacy", "content": "from the database"})
        assert r.status_code == 201
        first = by_slug(api)
    d.stop()
    # a row from before skills were files (no path, no file) gets its file back
    db = Path(os.environ["XDG_DATA_HOME"]) / "promptly" / "promptly.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE skills SET path = NULL WHERE slug = 'legacy'")
    conn.close()
    (folder / "legacy.md").unlink()
    # changed while the daemon was down
    (folder / "edit.md").write_text("---\nname: edit\n---\n\nedited offline\n")
    (folder / "drop.md").unlink()
    (folder / "new.md").write_text("---\nname: new\n---\n\nnew body\n")
    d = start(daemon_factory, folder)
    with d.client() as api:
        now = by_slug(api)
        assert {k: v["id"] for k, v in now.items() if k != "new"} == {
            k: v["id"] for k, v in first.items()}
        assert now["keep"] == first["keep"]  # untouched: not even updatedAt
        assert now["edit"]["version"] == 2 and now["edit"]["content"] == "edited offline"
        assert now["drop"]["problem"].startswith(DELETED)
        assert "problem" not in now["new"]
        assert now["legacy"]["path"] == str(folder / "legacy.md")
        assert (folder / "legacy.md").read_text().endswith("\n\nfrom the database\n")
        assert "problem" not in now["legacy"] and now["legacy"]["version"] == 1
        # SIGHUP with another skills_dir: the rows follow the new folder
        other = tmp_path / "other"
        other.mkdir()
        (other / "keep.md").write_text("---\nname: keep\n---\n\nkeep body\n")
        (other / "elsewhere.md").write_text("---\nname: elsewhere\n---\n\nhi\n")
        config = Path(os.environ["XDG_CONFIG_HOME"]) / "promptly" / "config.toml"
        config.write_text(f'skills_dir = "{other}"\n')
        d.signal(1)  # SIGHUP
        skill_where(api, "elsewhere", timeout=5.0)
        now = by_slug(api)
        assert now["keep"]["id"] == first["keep"]["id"] and "problem" not in now["keep"]
        assert now["keep"]["path"] == str(other / "keep.md")
        assert now["edit"]["problem"] == f"{DELETED}{folder / 'edit.md'}"
        # the new folder is watched, the old one is not
        (other / "later.md").write_text("---\nname: later\n---\n\nlater\n")
        skill_where(api, "later")


def test_api_writes_land_in_the_file(daemon_factory: Any, tmp_path: Path) -> None:
    folder = tmp_path / "skills"
    d = start(daemon_factory, folder)
    with d.client() as api:
        r = api.post(SKILLS, json={"name": "Morning Tone", "content": "Be kind.\n\nBe brief.",
                                   "description": "tone", "frontmatter": {"tags": ["a"]}})
        assert r.status_code == 201, r.text
        created = r.json()
        path = folder / "morning-tone.md"
        assert created["slug"] == "morning-tone" and created["path"] == str(path)
        assert path.read_bytes() == (b"---\nname: Morning Tone\ndescription: tone\n"
                                     b"tags: [a]\n---\n\nBe kind.\n\nBe brief.\n")
        assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp left
        # the user's own formatting: comments, custom keys, quoting, CRLF line ends
        mine = (b"---\r\n# my notes\r\nname: 'Morning Tone'   # shown in lists\r\n"
                b"x-owner: me\r\ndescription: tone\r\ntags:\r\n  - a\r\n---\r\n\r\n"
                b"Be kind.\r\n")
        path.write_bytes(mine)
        edited = skill_where(api, "morning-tone", lambda s: s["content"] == "Be kind.")
        assert edited["version"] == 2
        r = api.patch(f"{SKILLS}/{created['id']}", json={
            "description": "the house tone", "frontmatter": {"tags": ["a", "b"]}})
        assert r.status_code == 200, r.text
        patched = r.json()
        assert patched["version"] == 3 and patched["description"] == "the house tone"
        expected = (b"---\r\n# my notes\r\nname: 'Morning Tone'   # shown in lists\r\n"
                    b"x-owner: me\r\ndescription: the house tone\r\ntags: [a, b]\r\n---\r\n"
                    b"\r\nBe kind.\r\n")
        assert path.read_bytes() == expected
        # no write loop: the watcher's echo of our own write changes nothing
        settle(api, folder)
        assert path.read_bytes() == expected
        again = api.get(f"{SKILLS}/{created['id']}").json()
        assert again["version"] == 3 and again["updatedAt"] == patched["updatedAt"]
        # a PATCH that changes nothing leaves the file and the version alone
        same = api.patch(f"{SKILLS}/{created['id']}", json={"description": "the house tone"})
        assert same.json()["version"] == 3 and path.read_bytes() == expected
        # a folder skill keeps promptly-only fields under metadata:
        (folder / "plan").mkdir()
        (folder / "plan" / "SKILL.md").write_text(
            "---\nname: plan\ndescription: Plan.\nmetadata:\n  category: home\n---\n\nPlan.\n")
        plan = skill_where(api, "plan")
        r = api.patch(f"{SKILLS}/{plan['id']}", json={"category": "work", "isPublic": True,
                                                     "content": "Plan the week."})
        assert r.status_code == 200, r.text
        assert (folder / "plan" / "SKILL.md").read_text() == (
            "---\nname: plan\ndescription: Plan.\nmetadata:\n  category: work\n"
            "  isPublic: 'true'\n---\n\nPlan the week.\n")
        # a slug taken by a file on disk is taken
        (folder / "fresh.md").write_text("---\nname: fresh\n---\n\nx\n")
        r = api.post(SKILLS, json={"name": "Fresh", "content": "y", "slug": "fresh"})
        assert r.status_code == 409 and r.json()["error"]["field"] == "slug"
        assert (folder / "fresh.md").read_text().endswith("x\n")
        # delete: the file and the row go; tasks lose the link
        task = api.post("/api/promptly/tasks", json={
            "name": "t", "prompt": "p", "model": "anthropic/claude-sonnet-4-5",
            "skillIds": [created["id"], plan["id"]]}).json()
        assert api.delete(f"{SKILLS}/{created['id']}").status_code == 204
        assert not path.exists()
        assert api.get(f"{SKILLS}/{created['id']}").status_code == 404
        assert api.get(f"/api/promptly/tasks/{task['id']}").json()["skillIds"] == [plan["id"]]
        (folder / "plan" / "references").mkdir()
        (folder / "plan" / "references" / "x.md").write_text("mine\n")
        assert api.delete(f"{SKILLS}/{plan['id']}").status_code == 204
        assert not (folder / "plan" / "SKILL.md").exists()
        assert (folder / "plan" / "references" / "x.md").exists()  # the user's files stay
        settle(api, folder)
        assert {"morning-tone", "plan"}.isdisjoint(by_slug(api))


def test_broken_files_are_reported_and_never_hurt(daemon_factory: Any, tmp_path: Path) -> None:
    folder = tmp_path / "skills"
    folder.mkdir()
    (folder / "good.md").write_text("---\nname: Good\n---\n\nWorks.\n")
    d = start(daemon_factory, folder)
    with d.client() as api:
        skill_where(api, "good")
        (folder / "yaml.md").write_text("---\nname: Y\ndescription: a: b\n---\n\nbody\n")
        (folder / "latin1.md").write_bytes(b"---\nname: caf\xe9\n---\n\nbody\n")
        (folder / "huge.md").write_bytes(b"---\nname: huge\n---\n\n" + b"x" * 5_000_000)
        (folder / "nameless.md").write_text("---\ndescription: no name\n---\n\nStill fine.\n")
        (folder / "Bad Name.md").write_text("---\nname: bad\n---\n\nx\n")
        problems = {
            "yaml": "invalid YAML front matter at line 3",
            "latin1": "not UTF-8 text",
            "huge": "file is 5.0 MB; skills are limited to 1 MB",
        }
        for slug, text in problems.items():
            got = skill_where(api, slug, lambda s: "problem" in s)
            assert got["problem"].startswith(text), got["problem"]
            assert got["path"] == str(folder / f"{slug}.md")
        # lenient: no name is a usable skill named after its file, with a logged warning
        nameless = skill_where(api, "nameless")
        assert nameless["name"] == "nameless" and "problem" not in nameless
        assert api.get("/api/promptly/health").status_code == 200
        assert "problem" not in by_slug(api)["good"]
        # the API refuses to overwrite a file it can't read
        r = api.patch(f"{SKILLS}/{by_slug(api)['yaml']['id']}", json={"content": "x"})
        assert r.status_code == 409 and "invalid YAML" in r.json()["error"]["message"]
        # fixed on disk: the problem goes, the id stays
        broken_id = by_slug(api)["yaml"]["id"]
        (folder / "yaml.md").write_text("---\nname: Y\ndescription: 'a: b'\n---\n\nbody\n")
        fixed = skill_where(api, "yaml", lambda s: "problem" not in s)
        assert fixed["id"] == broken_id and fixed["description"] == "a: b"
        # a good skill edited meanwhile still follows
        (folder / "good.md").write_text("---\nname: Good\n---\n\nStill works.\n")
        skill_where(api, "good", lambda s: s["content"] == "Still works.")
    log = d.log()
    for slug in ("yaml", "latin1", "huge"):
        assert f"WARNING promptlyd.skills: skill {slug}: {folder / slug}.md: " in log
    assert "skill nameless: added from" in log and "missing 'name' in front matter" in log
    assert f"skills folder: {folder / 'Bad Name.md'}: 'Bad Name.md' can't be a skill" in log
    assert d.proc is not None and d.proc.poll() is None


# --- the reconcile rules, without a daemon --------------------------------------------------

NOW = "2026-01-01T00:00:00.000Z"


def _seen(slug: str, text: str, folder: Path = Path("/s")) -> Seen:
    path = folder / f"{slug}.md"
    return Seen(slug, path, parse_skill(text, slug=slug, layout="file", path=path))


def _row(seen: Seen, row_id: str, version: int = 1) -> dict[str, Any]:
    assert not isinstance(seen.result, SkillProblem)
    return {"id": row_id, "slug": seen.slug, **columns_for(seen.result, seen.path),
            "version": version, "created_at": NOW, "updated_at": NOW}


def _ids() -> Callable[[], str]:
    counter = iter(range(1000))
    return lambda: f"id-{next(counter)}"


def test_plan_bumps_only_on_a_change_of_meaning() -> None:
    a = _seen("a", "---\nname: A\n---\n\nbody\n")
    row = _row(a, "x", version=4)
    same = _seen("a", "---\nname:   A   # comment\n---\n\nbody\n")
    assert plan_sync([row], [same], {"a"}, now=NOW, new_id=_ids()).updates == []
    changed = _seen("a", "---\nname: A\ntags: [t]\n---\n\nbody\n")
    plan = plan_sync([row], [changed], {"a"}, now=NOW, new_id=_ids())
    assert plan.updates == [("x", {"frontmatter": {"tags": ["t"]}, "version": 5,
                                   "updated_at": NOW})]
    # a file not read this time (unchanged) is left alone
    assert plan_sync([row], [], {"a"}, now=NOW, new_id=_ids()).updates == []


def test_plan_broken_file_keeps_the_last_good_content() -> None:
    a = _seen("a", "---\nname: A\n---\n\nbody\n")
    broken = _seen("a", "---\nname: [\n---\n\nbody\n")
    plan = plan_sync([_row(a, "x")], [broken], {"a"}, now=NOW, new_id=_ids())
    ((row_id, changes),) = plan.updates
    assert row_id == "x" and set(changes) == {"problem", "updated_at"}
    assert changes["problem"].startswith("invalid YAML front matter at line 3")
    assert plan.log[0][0] == logging.WARNING
    # a new broken file gets a row named after its slug, so the API can show the problem
    plan = plan_sync([], [broken], {"a"}, now=NOW, new_id=_ids())
    (new,) = plan.inserts
    assert (new["id"], new["name"], new["content"], new["version"]) == ("id-0", "a", "", 1)


def test_plan_renames_only_when_unambiguous() -> None:
    a = _seen("a", "---\nname: A\n---\n\nsame\n")
    b = _seen("b", "---\nname: A\n---\n\nsame\n")
    c = _seen("c", "---\nname: A\n---\n\nsame\n")
    plan = plan_sync([_row(a, "x")], [b], {"b"}, now=NOW, new_id=_ids())
    assert plan.inserts == []
    assert plan.updates == [("x", {"path": "/s/b.md", "slug": "b", "updated_at": NOW})]
    # two copies of the content appeared: a delete plus two new skills, not a guess
    plan = plan_sync([_row(a, "x")], [b, c], {"b", "c"}, now=NOW, new_id=_ids())
    assert [r["slug"] for r in plan.inserts] == ["b", "c"]
    assert plan.updates == [("x", {"problem": f"{DELETED}/s/a.md", "updated_at": NOW})]
    # a row already marked deleted is not marked again
    gone = {**_row(a, "x"), "problem": f"{DELETED}/s/a.md"}
    assert plan_sync([gone], [], set(), now=NOW, new_id=_ids()).updates == []


@pytest.mark.parametrize("name", ["SKILL.md", "notes.md"])
def test_watch_filter_keeps_only_what_can_matter(name: str) -> None:
    from promptlyd.skills.sync import watch_filter

    keep = watch_filter(Path("/s"))
    assert keep(Path("/s/a.md")) and keep(Path("/s/folder"))
    assert not keep(Path("/s/.a.md.1234.tmp"))
    assert not keep(Path("/s/.git/index"))
    assert keep(Path(f"/s/f/{name}")) == (name == "SKILL.md")
    assert not keep(Path(f"/s/f/references/{name}"))


async def test_a_failing_watcher_retries_with_a_pause(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """_watch raising must not turn into a busy loop (it once retried ~2,000 times a second)."""
    import asyncio

    from promptlyd.clock import SystemClock
    from promptlyd.skills import sync as skills_sync
    from promptlyd.store import AsyncStore

    monkeypatch.setattr(skills_sync, "RETRY_SECONDS", 3600.0)  # a pause nothing outlasts
    store = AsyncStore(tmp_path / "p.db")
    store.open()
    sync = skills_sync.SkillSync(store, SystemClock(), tmp_path / "skills")
    attempts = 0

    async def broken(root: Path, stop: asyncio.Event) -> None:
        nonlocal attempts
        attempts += 1
        stop.set()
        raise OSError("boom")

    async def until(condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(30):
            while not condition():
                await asyncio.sleep(0)

    async def let_the_loop_turn(times: int = 100) -> None:
        for _ in range(times):  # loop iterations, not wall-clock time
            await asyncio.sleep(0)

    monkeypatch.setattr(sync, "_watch", broken)
    task = asyncio.ensure_future(sync._watch_forever())
    try:
        await until(lambda: attempts == 1)
        # a busy loop would have called the watcher again within a few turns
        await let_the_loop_turn()
        assert attempts == 1 and not task.done()
        # the pause ends (its hour is up, or set_root moved on): one more attempt, then
        # paused again
        sync._stop_watch.set()
        await until(lambda: attempts == 2)
        await let_the_loop_turn()
        assert attempts == 2 and not task.done()
    finally:
        sync._closing = True
        sync._stop_watch.set()
        async with asyncio.timeout(30):
            await task
        store.close()
    assert attempts == 2


def test_an_unreadable_skill_folder_is_reported_not_fatal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from promptlyd.skills.parse import scan_folder

    (tmp_path / "good.md").write_text("---\nname: good\n---\nbody\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "SKILL.md").write_text("---\nname: locked\n---\nbody\n")
    real_is_file = Path.is_file

    def is_file(self: Path) -> bool:  # what EACCES on a folder without +x looks like
        if self.parent == locked:
            raise PermissionError(13, "Permission denied")
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    scan = scan_folder(tmp_path)
    assert [s[0] for s in scan.skills] == ["good"]
    assert any("cannot read the folder" in p.message and "locked" in str(p.path)
               for p in scan.problems)
