"""Config loading: defaults, XDG paths, overrides, and errors with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlyd.config import load_config
from promptlyd.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "cfg"),
            "XDG_DATA_HOME": str(home / "data"), "XDG_RUNTIME_DIR": str(home / "run"),
            "TZ": "Europe/Berlin", **extra}


def test_defaults_follow_xdg(tmp_path: Path) -> None:
    c = load_config(env=env_for(tmp_path))
    assert c.path is None
    assert c.database == tmp_path / "data" / "promptly" / "promptly.db"
    assert c.skills_dir == tmp_path / "cfg" / "promptly" / "skills"
    assert c.socket == tmp_path / "run" / "promptly" / "promptlyd.sock"
    assert c.timezone == "Europe/Berlin"
    assert c.max_concurrent_runs == 4 and c.run_timeout_seconds == 600
    assert c.catch_up_window_hours == 24
    assert {"anthropic", "openai", "openrouter", "ollama", "llamacpp", "lmstudio"} <= set(
        c.providers)
    assert c.providers["ollama"].local and not c.providers["anthropic"].local


def test_socket_falls_back_to_tmp_without_runtime_dir(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    del env["XDG_RUNTIME_DIR"]
    import os

    assert load_config(env=env).socket == Path(f"/tmp/promptly-{os.getuid()}/promptlyd.sock")


def test_overrides_env_beats_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('socket = "/x/from-file.sock"\ndatabase = "~/db/p.db"\n'
                   'timezone = "Asia/Tokyo"\n[providers.vllm]\nbase_url = "http://h:8000/v1/"\n'
                   '[providers.ollama]\nbase_url = "http://box:11434/v1"\n')
    c = load_config(env=env_for(tmp_path, PROMPTLY_CONFIG=str(cfg)))
    assert c.path == cfg and c.socket == Path("/x/from-file.sock")
    assert c.database == tmp_path / "db" / "p.db"
    assert c.timezone == "Asia/Tokyo"
    vllm = c.providers["vllm"]
    assert vllm.base_url == "http://h:8000/v1" and vllm.kind == "openai"
    assert c.providers["ollama"].base_url == "http://box:11434/v1" and c.providers["ollama"].local
    c = load_config(env=env_for(tmp_path, PROMPTLY_CONFIG=str(cfg), PROMPTLY_SOCKET="/e.sock"))
    assert c.socket == Path("/e.sock")
    assert load_config(cfg, env=env_for(tmp_path), socket_override="/a.sock").socket == Path(
        "/a.sock")


def test_example_config_is_valid_and_matches_defaults(tmp_path: Path) -> None:
    example = load_config(ROOT / "config.example.toml", env=env_for(tmp_path))
    default = load_config(env=env_for(tmp_path))
    for field in ("organization_name", "default_model", "max_concurrent_runs",
                  "run_timeout_seconds", "catch_up_window_hours", "shutdown_grace_seconds",
                  "max_tool_rounds", "max_tool_output_chars", "secrets_backend", "log_level",
                  "budget", "smtp", "sms", "providers", "database", "socket", "skills_dir"):
        assert getattr(example, field) == getattr(default, field), field


@pytest.mark.parametrize(("text", "line", "key", "words"), [
    ('timezone = "Mars/Olympus"', 1, "timezone", "unknown IANA timezone"),
    ('\n\nmax_concurrent_runs = -1', 3, "max_concurrent_runs", "greater than 0"),
    ('run_timeout_seconds = "long"', 1, "run_timeout_seconds", "expected"),
    ('secrets_backend = "vault"', 1, "secrets_backend", "'auto', 'keyring' or 'file'"),
    ('default_model = "gpt-4o"', 1, "default_model", "provider/model"),
    ('[providers.new]\nkind = "openai"', None, "providers.new.base_url", "needs base_url"),
    ('[providers.x]\nbase_url = "http://h"\nkind = "grpc"', 3, "providers.x.kind", "'openai'"),
    ('[providers.Bad]\nbase_url = "http://h"', None, "providers.Bad", "lowercase"),
    ('[budget]\nruns_limit = -5', 2, "budget.runs_limit", "0 or more"),
    ('[web]\nlisten = "0.0.0.0:8787"', 2, "web.listen", "not a loopback address"),
    ('[web]\nlisten = "8787"', 2, "web.listen", "HOST:PORT"),
    ('[web]\nlisten = "127.0.0.1:99999"', 2, "web.listen", "0 to 65535"),
    ('[web]\nallow_remote = true\nlisten = "box.lan:80"', 3, "web.listen", "an IP address"),
    ('[web]\nallow_remote = "yes"', 2, "web.allow_remote", "true or false"),
    ('[budget]\nrun_limit = 5', 2, "budget.run_limit", "unknown key"),
    ('[smtp]\nport = 70000', 2, "smtp.port", "TCP port"),
    ('\ncatch_up_window_hours = -1', 2, "catch_up_window_hours", "from 0 (never catch up)"),
    ('catch_up_window_hours = 9000', 1, "catch_up_window_hours", "to 8784 hours, got 9000"),
    ('max_tool_rounds = true', 1, "max_tool_rounds", "number"),
    ('a = [1,', None, None, "invalid TOML"),
])
def test_errors_name_file_line_key(tmp_path: Path, text: str, line: int | None,
                                   key: str | None, words: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg, env=env_for(tmp_path))
    err = info.value
    message = str(err)
    assert message.startswith(str(cfg))
    if line is not None:
        assert err.line == line and f"{cfg}:{line}:" in message
    if key is not None:
        assert err.key == key and key in message
    assert words in message


@pytest.mark.parametrize("hours", [0, 0.0, 8784])
def test_a_catch_up_window_of_0_means_never_as_for_a_task(tmp_path: Path, hours: float) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"catch_up_window_hours = {hours}\n")
    assert load_config(cfg, env=env_for(tmp_path)).catch_up_window_hours == hours


def test_not_utf8(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(b"organization_name = \"\xff\"\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(cfg, env=env_for(tmp_path))


@pytest.mark.parametrize("value", ["sk-proj-AbCdEf0123456789", "sk-ant-api03-xyz", "a b",
                                   "x" * 65])
def test_a_key_pasted_as_api_key_is_refused_without_echoing_it(tmp_path: Path,
                                                               value: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[providers.openai]\napi_key = "{value}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(cfg, env=env_for(tmp_path))
    assert info.value.key == "providers.openai.api_key" and info.value.line == 2
    assert value not in str(info.value)
    assert "promptly secrets set openai" in str(info.value)


def test_web_listener_is_off_by_default_and_remote_needs_allow_remote(tmp_path: Path) -> None:
    assert load_config(env=env_for(tmp_path)).web.listen is None
    cfg = tmp_path / "c.toml"
    cfg.write_text('[web]\nlisten = "[::1]:8787"\n')
    web = load_config(cfg, env=env_for(tmp_path)).web
    assert (web.host, web.port) == ("::1", 8787)
    cfg.write_text('[web]\nlisten = "0.0.0.0:8787"\nallow_remote = true\n')
    assert load_config(cfg, env=env_for(tmp_path)).web.host == "0.0.0.0"
