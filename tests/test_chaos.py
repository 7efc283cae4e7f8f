"""Chaos: ``kill -9`` the daemon at random moments while runs are in flight, slots fall
due and deliveries are pending — 20 cycles by default, 100 with ``--runslow``.

Each cycle, with the daemon dead: ``PRAGMA integrity_check`` is ok, no slot has two
runs, and a few tasks are set due in the next seconds; then it starts and must show:
every run the crash left ``pending``/``running`` is failed (interrupted), the counts
of tasks, skills and sources are unchanged, and every active task not just set due
has its ``nextRunAt`` in the future; two runs are started by hand and the daemon is
killed after a random delay. Every delivery is pending, or delivered — and one that
was recorded delivered is never sent again. At the end the daemon runs until all is
settled, and every delivery that was delivered reached the receiver.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_proc import DaemonProcess, wait_for
from tests.fakes.model_servers import OpenAIServer, dynamic, reply, slow
from tests.fakes.receivers import Receiver
from tests.rows import db_path, iso

N_HOURLY, N_MANUAL = 10, 6


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def message_id(delivery_id: str) -> str:
    return "msg_" + delivery_id.replace("-", "")


class Chaos:
    def __init__(self, daemon_factory: Any, home: Path, rng: random.Random) -> None:
        self.rng = rng
        self.model = OpenAIServer(default=dynamic(
            lambda _: slow(rng.uniform(0.05, 0.6), then=reply("ok", usage=(3, 2))))).start()
        self.hook = Receiver().start()
        self.hook.script(*[500 if rng.random() < 0.3 else 200 for _ in range(10_000)])
        skills = home / ".config" / "promptly" / "skills"
        skills.mkdir(parents=True)
        for name in ("tone", "style"):
            (skills / f"{name}.md").write_text(f"---\nname: {name}\n---\nBe {name}.\n")
        (home / "notes").mkdir()
        self.daemon: DaemonProcess = daemon_factory(config=(
            'timezone = "UTC"\nmax_concurrent_runs = 4\nshutdown_grace_seconds = 1\n'
            f'[providers.fake]\nkind = "openai"\nbase_url = "{self.model.base_url}"\n'
            "local = true\n[delivery]\nretry_schedule_seconds = [0.3, 1, 2]\n"
            "timeout_seconds = 5\n"))
        self.db = db_path(self.daemon)
        self.home = home
        self.hourly: list[str] = []
        self.manual: list[str] = []
        self.counts: tuple[int, int, int] = (0, 0, 0)
        self.sent_when_delivered: dict[str, int] = {}  # webhook-id → 2xx receipts then
        self.kills = 0
        self.interrupted = 0  # runs in flight at a kill
        self.pending_at_kill = 0  # deliveries pending at a kill

    def close(self) -> None:
        self.daemon.kill()
        self.model.stop()
        self.hook.stop()

    def setup(self) -> None:
        d = self.daemon.start()
        with d.client() as api:
            wait_for(lambda: len(api.get("/api/promptly/skills").json()) == 2 or None, 20,
                     "the two skills")
            skill_ids = [s["id"] for s in api.get("/api/promptly/skills").json()]
            source = api.post("/api/promptly/sources", json={
                "name": "Notes", "type": "local",
                "config": {"paths": [str(self.home / "notes")]}}).json()
            for i in range(N_HOURLY + N_MANUAL):
                r = api.post("/api/promptly/tasks", json={
                    "name": f"t{i}", "prompt": "p", "model": "fake/m",
                    "schedule": "hourly" if i < N_HOURLY else "daily",
                    "skillIds": skill_ids[: i % 3], "sourceIds": [source["id"]] if i % 2 else [],
                    "destinations": [{"type": "webhook", "value": self.hook.url}]})
                assert r.status_code == 201, r.text
                (self.hourly if i < N_HOURLY else self.manual).append(r.json()["id"])
        self.daemon.kill()
        self.counts = self.count()

    def count(self) -> tuple[int, int, int]:
        return tuple(query(self.db, f"SELECT count(*) FROM {t}")[0][0]  # type: ignore[return-value]
                     for t in ("tasks", "skills", "sources"))

    def check_dead(self) -> list[str]:
        """Checks on the dead daemon's files; returns the runs it left unfinished."""
        assert query(self.db, "PRAGMA integrity_check") == [("ok",)]
        assert query(self.db, "SELECT task_id, scheduled_for FROM runs WHERE scheduled_for "
                              "IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1") == []
        assert self.count() == self.counts
        statuses = {s for (s,) in query(self.db, "SELECT DISTINCT status FROM deliveries")}
        assert statuses <= {"pending", "delivered", "failed"}, statuses
        received = self.received()
        for (delivery_id,) in query(self.db, "SELECT id FROM deliveries WHERE status = "
                                             "'delivered'"):
            mid = message_id(delivery_id)
            assert received[mid] >= 1, f"{mid} recorded delivered but never received"
            self.sent_when_delivered.setdefault(mid, received[mid])
        self.pending_at_kill += query(self.db, "SELECT count(*) FROM deliveries WHERE "
                                               "status = 'pending'")[0][0]
        unfinished = [rid for (rid,) in query(self.db, "SELECT id FROM runs WHERE status IN "
                                                       "('pending', 'running')")]
        self.interrupted += len(unfinished)
        return unfinished

    def received(self) -> Counter[str]:
        return Counter(r.headers["webhook-id"] for r in list(self.hook.requests)
                       if r.answered == 200)

    def check_never_resent(self) -> None:
        received = self.received()
        for mid, then in self.sent_when_delivered.items():
            assert received[mid] == then, f"{mid} was sent again after it was delivered"

    def plant_due(self) -> set[str]:
        chosen = self.rng.sample(self.hourly, 4)
        now = datetime.now(UTC)
        conn = sqlite3.connect(self.db, timeout=10)
        with conn:
            conn.executemany("UPDATE tasks SET next_run_at = ? WHERE id = ?", [
                (iso(now + timedelta(seconds=self.rng.uniform(0.5, 2.5))), t) for t in chosen])
        conn.close()
        return set(chosen)

    def check_started(self, api: Any, unfinished: list[str], planted: set[str]) -> None:
        for run_id in unfinished:
            run = api.get(f"/api/promptly/runs/{run_id}").json()
            assert run["status"] == "failed" and "interrupted" in run["error"], run
        stats = api.get("/api/promptly/stats").json()
        assert stats["totalTasks"] == self.counts[0]
        assert len(api.get("/api/promptly/skills").json()) == self.counts[1]
        assert len(api.get("/api/promptly/sources").json()) == self.counts[2]

        def all_ahead() -> bool:
            now = datetime.now(UTC)
            return all(parse(t["nextRunAt"]) > now
                       for t in api.get("/api/promptly/tasks").json()
                       if t["id"] not in planted and t["status"] == "active")

        wait_for(all_ahead, 20, "every active task's nextRunAt in the future")

    def cycle(self) -> None:
        unfinished = self.check_dead()
        self.check_never_resent()
        planted = self.plant_due()
        d = self.daemon.start()
        with d.client() as api:
            self.check_started(api, unfinished, planted)
            for task_id in self.rng.sample(self.manual, 2):
                assert api.post(f"/api/promptly/tasks/{task_id}/run").status_code in (201, 409)
        time.sleep(self.rng.uniform(0.05, 1.5))  # the random moment of the crash
        self.daemon.kill()
        self.kills += 1

    def settle(self) -> None:
        """Start once more and let every run and delivery finish; the final checks."""
        unfinished = self.check_dead()
        d = self.daemon.start()
        with d.client() as api:
            self.check_started(api, unfinished, set())

            def settled() -> bool:
                runs = api.get("/api/promptly/runs", params={"limit": 10000}).json()
                return all(r["status"] in ("completed", "failed")
                           and r.get("deliveryStatus") != "pending" for r in runs)

            wait_for(settled, 90, "every run and delivery to settle")
            runs = api.get("/api/promptly/runs", params={"limit": 10000}).json()
        d.stop()
        self.check_dead()
        self.check_never_resent()
        assert len(runs) >= self.kills  # runs really happened
        assert any(r["status"] == "completed" for r in runs)
        assert self.sent_when_delivered  # deliveries really happened
        assert self.interrupted > 0 and self.pending_at_kill > 0  # kills hit work in flight


def chaos(daemon_factory: Any, home: Path, cycles: int, seed: int) -> None:
    c = Chaos(daemon_factory, home, random.Random(seed))
    try:
        c.setup()
        for _ in range(cycles):
            c.cycle()
        c.settle()
    finally:
        c.close()


def test_kill_9_twenty_times_loses_and_doubles_nothing(daemon_factory: Any,
                                                       isolated_home: Path) -> None:
    chaos(daemon_factory, isolated_home, cycles=20, seed=20261124)


@pytest.mark.slow
def test_kill_9_a_hundred_times_loses_and_doubles_nothing(daemon_factory: Any,
                                                          isolated_home: Path) -> None:
    chaos(daemon_factory, isolated_home, cycles=100, seed=int(time.time()))
