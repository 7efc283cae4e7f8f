"""Skill files end to end: an Agent Skills folder and the bundled examples attached to
tasks and run against a loopback OpenAI-compatible server; a run whose skill file was
deleted; the ``promptly skills`` commands (list, show, new, edit, rm, install-examples)."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from promptlyd.cli import cli
from promptlyd.cli import skills as cli_skills
from promptlyd.skills.examples import example_slugs, examples_folder
from promptlyd.skills.parse import SkillDoc, parse_skill, scan_folder
from tests.daemon_proc import DaemonProcess
from tests.fakes.model_servers import OpenAIServer, reply, running
from tests.test_skills_sync import SKILLS, by_slug, skill_where, wait_for

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


def start(daemon_factory: Any, folder: Path, oai: OpenAIServer) -> DaemonProcess:
    config = (f'skills_dir = "{folder}"\nrun_timeout_seconds = 5\n'
              f'[providers.fake]\nkind = "openai"\nbase_url = "{oai.base_url}"\nlocal = true\n')
    d: DaemonProcess = daemon_factory(config=config).start()
    return d


def run_task(api: httpx.Client, skill_ids: list[str], prompt: str = "Go.") -> dict[str, Any]:
    task = api.post("/api/promptly/tasks", json={
        "name": "t", "prompt": prompt, "model": "fake/m", "skillIds": skill_ids})
    assert task.status_code == 201, task.text
    started = api.post(f"/api/promptly/tasks/{task.json()['id']}/run")
    assert started.status_code == 201, started.text

    def finished() -> dict[str, Any] | None:
        run: dict[str, Any] = api.get(f"/api/promptly/runs/{started.json()['id']}").json()
        return run if run["status"] in ("completed", "failed") else None

    return wait_for(finished, 20.0, "the run to finish")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# An Agent Skills folder (agentskills.io/specification): `name` equal to the folder name,
# a `description` saying what it does and when to use it, optional license, compatibility,
# metadata and allowed-tools, the instructions as the body, resources beside SKILL.md.
DESCRIPTION = ("Turn a long report into a one-page digest with the key numbers and decisions. "
               "Use when a task mentions a report, a PDF or a long document.")
AGENT_SKILL = f"""\
---
name: report-digest
description: {DESCRIPTION}
license: Apache-2.0
compatibility: Works with any model; needs no tools.
metadata:
  author: example-org
  version: "1.2"
allowed-tools: Read
---

# Report digest

1. Read the whole report before writing anything.
2. Open with the three numbers that matter most, each with its unit and period.
3. List the decisions taken and who owns each one.

See [the digest template](references/TEMPLATE.md) for the exact layout.
"""


def test_an_agent_skills_folder_is_loaded_and_runs(
    daemon_factory: Any, oai: OpenAIServer, tmp_path: Path
) -> None:
    folder = tmp_path / "skills"
    skill = folder / "report-digest"
    (skill / "references").mkdir(parents=True)
    (skill / "scripts").mkdir()
    (skill / "SKILL.md").write_text(AGENT_SKILL)
    (skill / "references" / "TEMPLATE.md").write_text("# Digest\n\n## Numbers\n")
    (skill / "scripts" / "count_pages.sh").write_text("#!/bin/sh\necho 1\n")
    before = snapshot(folder)
    d = start(daemon_factory, folder, oai)
    oai.script([reply("digest done")])
    with d.client() as api:
        loaded = by_slug(api)
        assert set(loaded) == {"report-digest"}  # references/ and scripts/ are not skills
        digest = loaded["report-digest"]
        assert "problem" not in digest and digest["name"] == "report-digest"
        assert digest["description"].startswith("Turn a long report into a one-page digest")
        assert digest["frontmatter"] == {"author": "example-org"}
        body = AGENT_SKILL.split("---\n\n", 1)[1]
        assert digest["content"] == body.rstrip("\n")
        run = run_task(api, [digest["id"]], "Digest the Q3 report.")
        assert run["status"] == "completed", run
        sent = oai.completion_requests[0].body["messages"]
        assert sent == [{"role": "system", "content": body.strip()},
                        {"role": "user", "content": "Digest the Q3 report."}]
    assert snapshot(folder) == before  # loading and using it changed nothing on disk
    assert "name 'report-digest'" not in d.log()  # no Agent Skills naming warning


def test_a_run_fails_clearly_when_its_skill_file_is_deleted(
    daemon_factory: Any, oai: OpenAIServer, tmp_path: Path
) -> None:
    folder = tmp_path / "skills"
    folder.mkdir()
    (folder / "house-tone.md").write_text("---\nname: House tone\n---\n\nBe kind.\n")
    d = start(daemon_factory, folder, oai)
    oai.script([reply("fine")])
    with d.client() as api:
        tone = by_slug(api)["house-tone"]
        task = api.post("/api/promptly/tasks", json={
            "name": "t", "prompt": "hi", "model": "fake/m", "skillIds": [tone["id"]]}).json()
        (folder / "house-tone.md").unlink()
        skill_where(api, "house-tone", lambda s: "problem" in s)
        run = api.post(f"/api/promptly/tasks/{task['id']}/run").json()

        def finished() -> dict[str, Any] | None:
            got: dict[str, Any] = api.get(f"/api/promptly/runs/{run['id']}").json()
            return got if got["status"] in ("completed", "failed") else None

        done = wait_for(finished, 20.0, "the run to finish")
        assert done["status"] == "failed"
        assert "House tone" in done["error"] and str(folder) in done["error"]
        assert oai.completion_requests == []  # never sent without its skill
        # still attached, still listed; deleting it through the API detaches it
        assert api.get(f"/api/promptly/tasks/{task['id']}").json()["skillIds"] == [tone["id"]]
        assert api.delete(f"{SKILLS}/{tone['id']}").status_code == 204
        assert api.get(f"/api/promptly/tasks/{task['id']}").json()["skillIds"] == []
        run = run_task(api, [])
        assert run["status"] == "completed"


# --- the bundled examples ---------------------------------------------------------------


def test_the_bundled_examples_are_valid_skills() -> None:
    root = Path(str(examples_folder()))
    scan = scan_folder(root)
    assert scan.problems == ()
    assert len(scan.skills) >= 5 and [s.slug for s in scan.skills] == example_slugs()
    layouts = {s.slug: s.layout for s in scan.skills}
    assert "folder" in layouts.values() and "file" in layouts.values()
    for sp in scan.skills:
        doc = parse_skill(sp.path.read_bytes(), slug=sp.slug, layout=sp.layout, path=sp.path)
        assert isinstance(doc, SkillDoc), doc
        assert doc.warnings == (), (sp.slug, doc.warnings)  # Agent Skills rules included
        assert doc.description and doc.category and doc.tags and len(doc.content) > 200
        if sp.layout == "folder":
            assert any((sp.path.parent / "references").iterdir())
    assert any("{{last_output}}" in p.read_text() for p in root.glob("*.md"))
    # one copy: the repository's top-level skills/ is the package's folder
    assert (REPO / "skills").resolve() == root.resolve()


def promptly(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_install_examples_then_run_two_in_attach_order(
    daemon_factory: Any, oai: OpenAIServer, tmp_path: Path
) -> None:
    folder = tmp_path / "skills"
    d = start(daemon_factory, folder, oai)
    oai.script([reply("ok")])
    result = promptly("skills", "install-examples")  # into the config's skills_dir
    assert result.exit_code == 0, result.output
    slugs = example_slugs()
    assert result.stdout.startswith(f"Installed {len(slugs)} example skill(s) into {folder}")
    # the command returned once the daemon had them: listing right after shows them all
    listing = promptly("skills").stdout
    assert len(listing.splitlines()) == 1 + len(slugs)
    assert [slug for slug in slugs if f" {slug} " not in listing] == []
    with d.client() as api:
        loaded = by_slug(api)
        assert set(loaded) == set(slugs)
        assert not [s for s in loaded.values() if "problem" in s]
        # never overwritten without --force
        mine = folder / "weekly-report.md"
        mine.write_text("---\nname: Mine\n---\n\nMy own version.\n")
        again = promptly("--json", "skills", "install-examples")
        assert json.loads(again.stdout) == {"skillsDir": str(folder), "installed": [],
                                            "skipped": slugs}
        assert mine.read_text().endswith("My own version.\n")
        forced = promptly("skills", "install-examples", "--force", "--to", str(folder))
        assert forced.exit_code == 0 and "weekly-report" in forced.stdout
        assert mine.read_bytes() == (Path(str(examples_folder())) / mine.name).read_bytes()
        first, second = loaded["concise-briefing"], loaded["redact-private-data"]
        run = run_task(api, [first["id"], second["id"]], "Brief me on the inbox.")
        assert run["status"] == "completed", run
        system = oai.completion_requests[0].body["messages"][0]
        assert system["role"] == "system"
        assert system["content"] == first["content"].strip() + "\n\n" + second["content"].strip()
        assert run["renderedPrompt"].startswith(first["content"].strip() + "\n\n")
        assert run["renderedPrompt"].endswith("\n\nBrief me on the inbox.")


# --- the CLI --------------------------------------------------------------------------


def editor(tmp_path: Path, name: str, script: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_cli_new_edit_list_show_rm(
    daemon_factory: Any, oai: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "skills"
    folder.mkdir()
    (folder / "broken.md").write_text("---\nname: [\n---\n\nx\n")
    d = start(daemon_factory, folder, oai)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", editor(tmp_path, "append", 'printf "Sign as Sam.\\n" >> "$1"\n'))
    out = promptly("skills", "new", "Sign off", "--description", "How to end a mail",
                   "--content", "End with a short thanks.")
    assert out.exit_code == 0, out.output
    path = folder / "sign-off.md"
    assert out.stdout.splitlines() == [
        f"Created skill 'Sign off' in {path}; opening it in your editor.",
        f"Saved {path}: skill 'Sign off' is now version 2."]
    assert path.read_text() == ("---\nname: Sign off\ndescription: How to end a mail\n---\n\n"
                                "End with a short thanks.\nSign as Sam.\n")
    with d.client() as api:
        assert by_slug(api)["sign-off"]["content"] == "End with a short thanks.\nSign as Sam."
    # list: the problem has its own column; show: where the file is
    listing = promptly("skills").stdout
    header = listing.splitlines()[0].split()
    assert header == ["ID", "NAME", "SLUG", "VERSION", "DESCRIPTION", "PROBLEM"]
    (row,) = [line for line in listing.splitlines() if " broken " in line]
    assert "invalid YAML front matter at line 3" in row
    assert f"File:         {path}" in promptly("skills", "show", "sign-off").stdout
    # an edit that breaks the file: exit 1 with the problem; the old content still shows
    breaker = "printf -- '---\\nname: [\\n---\\n\\nx\\n' > \"$1\"\n"
    monkeypatch.setenv("EDITOR", editor(tmp_path, "break", breaker))
    bad = CliRunner().invoke(cli, ["skills", "edit", "sign-off"])
    assert bad.exit_code == 1
    assert "skill sign-off was saved but can't be used: invalid YAML" in bad.stderr
    with d.client() as api:
        kept = by_slug(api)["sign-off"]
        assert kept["content"].endswith("Sign as Sam.") and "problem" in kept
    # an editor that saves nothing: nothing to wait for
    monkeypatch.setenv("EDITOR", editor(tmp_path, "noop", "exit 0\n"))
    assert promptly("skills", "edit", "sign-off").stdout == f"No changes to {path}.\n"
    # rm = delete: the file and the row go
    gone = promptly("skills", "rm", "sign-off", "--yes")
    assert gone.exit_code == 0 and gone.stdout.startswith("Deleted skill 'Sign off'")
    assert not path.exists()
    with d.client() as api:
        assert "sign-off" not in by_slug(api)
    # --no-edit: the file is made and loaded, and no editor is started
    marker = tmp_path / "editor-ran"
    monkeypatch.setenv("EDITOR", editor(tmp_path, "mark", f'touch "{marker}"\n'))
    assert promptly("skills", "new", "Quiet", "--no-edit").stdout == (
        f"Created skill 'Quiet' in {folder / 'quiet.md'}.\n")
    assert (folder / "quiet.md").exists() and not marker.exists()
    assert "quiet" in promptly("skills").stdout


def test_install_examples_without_a_daemon_says_they_load_when_it_starts(
    config_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "skills"
    config_path.write_text(f'skills_dir = "{folder}"\n')
    result = promptly("skills", "install-examples")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "promptlyd is not running: the files are written and the skills are loaded when "
        "it starts.")
    assert sorted(p.name.removesuffix(".md") for p in folder.iterdir()) == example_slugs()


def test_install_examples_says_so_when_the_daemon_does_not_load_them(
    daemon_factory: Any, oai: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the daemon watches one folder; the CLI's config (--config) names another
    d = start(daemon_factory, tmp_path / "watched", oai)
    other = tmp_path / "elsewhere"
    cli_config = tmp_path / "cli.toml"
    cli_config.write_text(f'skills_dir = "{other}"\nsocket = "{d.socket_path}"\n')
    monkeypatch.setattr(cli_skills, "RELOAD_WAIT", 0.5)
    result = CliRunner().invoke(cli, ["--config", str(cli_config), "skills",
                                      "install-examples"])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"Installed {len(example_slugs())} example skill(s) into "
                                    f"{other}")
    assert result.stderr.startswith(f"Error: the files are written to {other}, but the daemon "
                                    "has not loaded ")
    assert "within 0.5 s" in result.stderr
    with d.client() as api:
        assert by_slug(api) == {}
