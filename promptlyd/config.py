"""The one configuration object, and where things live (SPEC §2).

``load_config()`` reads TOML with ``tomllib``; a missing file means defaults, an
invalid one raises ``ConfigError`` naming the file, line and key. Nothing here
touches data: callers create folders only after the config is known good.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptlyd.errors import ConfigError

# Built-in providers; config tables of the same name override their fields.
DEFAULT_PROVIDERS: dict[str, dict[str, str]] = {
    "anthropic": {"kind": "anthropic", "base_url": "https://api.anthropic.com",
                  "api_key": "anthropic"},
    "openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key": "openai"},
    "openrouter": {"kind": "openai", "base_url": "https://openrouter.ai/api/v1",
                   "api_key": "openrouter"},
    "ollama": {"kind": "openai", "base_url": "http://127.0.0.1:11434/v1"},
    "llamacpp": {"kind": "openai", "base_url": "http://127.0.0.1:8080/v1"},
    "lmstudio": {"kind": "openai", "base_url": "http://127.0.0.1:1234/v1"},
}
LOCAL_PROVIDERS = frozenset({"ollama", "llamacpp", "lmstudio"})

# For tasks created without a model. Keep config.example.toml and README in step, and
# pick one the catalog (promptlyd/data/models.json) has without an ``endOfLife``.
DEFAULT_MODEL = "anthropic/claude-sonnet-5-5"

# The widest catch-up window, in the config as in a task's catchUpWindowHours.
MAX_CATCH_UP_WINDOW_HOURS = 24 * 366


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: str  # wire protocol: "openai" or "anthropic"
    base_url: str
    api_key: str | None = None  # the *name* of a secret, never the secret itself
    local: bool = False  # local servers cost nothing and need no key
    timeout_seconds: float = 120.0
    max_retries: int = 3


@dataclass(frozen=True)
class BudgetConfig:
    runs_limit: int | None = None
    monthly_budget_cents: int | None = None


SMTP_SECURITY = ("starttls", "tls", "none")
SMTP_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000)  # like Svix


@dataclass(frozen=True)
class SmtpConfig:
    host: str | None = None
    port: int = 587
    security: str = "starttls"  # "starttls" | "tls" (implicit, port 465) | "none"
    username: str | None = None  # the password is secret "smtp"
    sender: str | None = None  # the TOML key is "from"
    reply_to: str | None = None


@dataclass(frozen=True)
class SmsConfig:
    base_url: str = "https://api.twilio.com/2010-04-01"
    account_sid: str | None = None
    sender: str | None = None  # the TOML key is "from"
    max_length: int = 1600


@dataclass(frozen=True)
class DeliveryConfig:
    retry_schedule_seconds: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    timeout_seconds: float = 15.0


@dataclass(frozen=True)
class WebConfig:
    """The dashboard's listener (``[web]``): off unless ``listen`` is set."""

    listen: str | None = None  # "127.0.0.1:8787"; port 0 lets the system choose
    allow_remote: bool = False  # a non-loopback ``listen`` is refused without it

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0] if self.listen else ""

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1] if self.listen else 0


def split_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8787"`` / ``"[::1]:8787"`` / ``"localhost:8787"`` → (host, port);
    ValueError saying what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"must be HOST:PORT, e.g. \"127.0.0.1:8787\", got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port must be from 0 to 65535, got {port}")
    return host, port


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Config:
    path: Path | None  # the file it came from, if any
    timezone: str
    organization_name: str
    default_model: str
    database: Path
    skills_dir: Path
    socket: Path
    config_dir: Path
    max_concurrent_runs: int = 4
    run_timeout_seconds: float = 600.0
    catch_up_window_hours: float = 24.0
    shutdown_grace_seconds: float = 30.0
    max_tool_rounds: int = 10
    max_tool_output_chars: int = 20_000
    source_connect_timeout_seconds: float = 20.0  # connecting to a source, listing its tools
    tool_timeout_seconds: float = 60.0  # one tool call
    request_timeout_seconds: float = 10.0  # an API client sending its request
    secrets_backend: str = "auto"  # "auto" | "keyring" | "file"
    log_level: str = "INFO"
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    web: WebConfig = field(default_factory=WebConfig)

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)


# --- where things live -------------------------------------------------------

def _env_path(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(name)
    return Path(value) if value and os.path.isabs(value) else default


def config_home(env: Mapping[str, str]) -> Path:
    return _env_path(env, "XDG_CONFIG_HOME", Path(env.get("HOME", "~")).expanduser() / ".config")


def data_home(env: Mapping[str, str]) -> Path:
    return _env_path(
        env, "XDG_DATA_HOME", Path(env.get("HOME", "~")).expanduser() / ".local" / "share"
    )


def runtime_dir(env: Mapping[str, str]) -> Path:
    value = env.get("XDG_RUNTIME_DIR")
    if value and os.path.isabs(value):
        return Path(value) / "promptly"
    return Path(f"/tmp/promptly-{os.getuid()}")


def default_config_path(env: Mapping[str, str]) -> Path:
    override = env.get("PROMPTLY_CONFIG")
    if override:
        return Path(override).expanduser()
    return config_home(env) / "promptly" / "config.toml"


def system_timezone(env: Mapping[str, str]) -> str:
    """The machine's IANA zone: $TZ, then /etc/localtime's link, then /etc/timezone, else UTC."""
    from zoneinfo import available_timezones  # noqa: F401  (tzdata is importable)

    tz = env.get("TZ", "").lstrip(":")
    if tz and _is_zone(tz):
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
        marker = "zoneinfo/"
        if marker in target:
            name = target.split(marker, 1)[1]
            if _is_zone(name):
                return name
    except OSError:
        pass
    try:
        name = Path("/etc/timezone").read_text().strip()
        if _is_zone(name):
            return name
    except OSError:
        pass
    return "UTC"


def _is_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


# --- loading ----------------------------------------------------------------

_TOP_KEYS = {
    "timezone": str, "organization_name": str, "default_model": str, "database": str,
    "skills_dir": str, "socket": str, "max_concurrent_runs": int,
    "run_timeout_seconds": (int, float), "catch_up_window_hours": (int, float),
    "shutdown_grace_seconds": (int, float), "max_tool_rounds": int,
    "max_tool_output_chars": int, "source_connect_timeout_seconds": (int, float),
    "tool_timeout_seconds": (int, float), "request_timeout_seconds": (int, float),
    "secrets_backend": str, "log_level": str, "providers": dict, "budget": dict,
    "smtp": dict, "sms": dict, "delivery": dict, "web": dict,
}
_PROVIDER_KEYS = {"kind": str, "base_url": str, "api_key": str, "local": bool,
                  "timeout_seconds": (int, float), "max_retries": int}
_BUDGET_KEYS = {"runs_limit": int, "monthly_budget_cents": int}
_SMTP_KEYS = {"host": str, "port": int, "security": str, "username": str, "from": str,
              "reply_to": str}
_DELIVERY_KEYS = {"retry_schedule_seconds": list, "timeout_seconds": (int, float)}
_WEB_KEYS = {"listen": str, "allow_remote": bool}
_SMS_KEYS = {"base_url": str, "account_sid": str, "from": str, "max_length": int}


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    socket_override: str | None = None,
) -> Config:
    """Read the config file (or defaults when it does not exist).

    ``path`` defaults to ``$PROMPTLY_CONFIG`` or the XDG location. ``PROMPTLY_SOCKET``
    (or ``socket_override``) wins over the file's ``socket``.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("PROMPTLY_CONFIG"))
    path = Path(path).expanduser() if path is not None else default_config_path(env)
    raw: dict[str, Any] = {}
    text = ""
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
            raise ConfigError(f"invalid TOML: {exc}", path=str(path), line=line) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config: {exc}", path=str(path)) from exc
    elif explicit:
        raise ConfigError("config file does not exist", path=str(path))
    return _build(raw, text, path if path.exists() else None, env, socket_override)


def _line_from_message(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


def _key_line(text: str, key: str, table: str | None = None) -> int | None:
    """Best-effort line number of ``key`` (inside ``[table]`` when given)."""
    in_table = table is None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            header = stripped.strip("[]").strip()
            in_table = table is not None and header == table
            continue
        if in_table and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return None


class _Checker:
    def __init__(self, text: str, path: Path | None) -> None:
        self.text = text
        self.path = str(path) if path else None

    def fail(self, message: str, key: str, table: str | None = None) -> ConfigError:
        shown = f"{table}.{key}" if table else key
        line = _key_line(self.text, key, table)
        return ConfigError(f"{shown}: {message}", path=self.path, line=line, key=shown)

    def check(self, raw: Mapping[str, Any], spec: Mapping[str, Any], table: str | None) -> None:
        for key, value in raw.items():
            if key not in spec:
                known = ", ".join(sorted(spec))
                raise self.fail(f"unknown key (known keys: {known})", key, table)
            expected = spec[key]
            if isinstance(value, bool) and expected in (int, (int, float)):
                raise self.fail(f"expected a number, got {value!r}", key, table)
            if not isinstance(value, expected):
                names = (expected.__name__ if isinstance(expected, type)
                         else " or ".join(t.__name__ for t in expected))
                kind = {"str": "a string", "int": "an integer", "dict": "a table",
                        "bool": "true or false", "list": "an array"}.get(names, names)
                raise self.fail(f"expected {kind}, got {value!r}", key, table)


def _build(
    raw: dict[str, Any], text: str, path: Path | None, env: Mapping[str, str],
    socket_override: str | None,
) -> Config:
    c = _Checker(text, path)
    c.check(raw, _TOP_KEYS, None)

    def positive(key: str, value: float, table: str | None = None) -> None:
        if value <= 0:
            raise c.fail(f"must be greater than 0, got {value!r}", key, table)

    tz = raw.get("timezone") or system_timezone(env)
    if not _is_zone(tz):
        raise c.fail(f"unknown IANA timezone {tz!r} (e.g. 'Europe/Berlin')", "timezone")
    for key in ("max_concurrent_runs", "run_timeout_seconds", "max_tool_rounds",
                "max_tool_output_chars", "source_connect_timeout_seconds",
                "tool_timeout_seconds", "request_timeout_seconds"):
        if key in raw:
            positive(key, raw[key])
    # 0 = never catch up, as a task's catchUpWindowHours (and within the same bounds)
    window = raw.get("catch_up_window_hours", 24)
    if not 0 <= window <= MAX_CATCH_UP_WINDOW_HOURS:
        raise c.fail(f"must be from 0 (never catch up) to {MAX_CATCH_UP_WINDOW_HOURS} "
                     f"hours, got {window!r}", "catch_up_window_hours")
    if raw.get("shutdown_grace_seconds", 0) < 0:
        raise c.fail("must be 0 or more", "shutdown_grace_seconds")
    backend = raw.get("secrets_backend", "auto")
    if backend not in ("auto", "keyring", "file"):
        raise c.fail(f"must be 'auto', 'keyring' or 'file', got {backend!r}", "secrets_backend")
    level = raw.get("log_level", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise c.fail(f"must be DEBUG, INFO, WARNING or ERROR, got {level!r}", "log_level")

    providers: dict[str, ProviderConfig] = {}
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_PROVIDERS.items()}
    for name, table in raw.get("providers", {}).items():
        tname = f"providers.{name}"
        if not isinstance(table, dict):
            raise c.fail("expected a table", name, "providers")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            raise c.fail("provider names are lowercase letters, digits, '-' and '_'",
                         name, "providers")
        c.check(table, _PROVIDER_KEYS, tname)
        if name not in merged and "base_url" not in table:
            raise c.fail("a new provider needs base_url", "base_url", tname)
        kind = table.get("kind", merged.get(name, {}).get("kind", "openai"))
        if kind not in ("openai", "anthropic"):
            raise c.fail(f"must be 'openai' or 'anthropic', got {kind!r}", "kind", tname)
        if "base_url" in table and not re.match(r"https?://", table["base_url"]):
            raise c.fail("must be an http:// or https:// URL", "base_url", tname)
        if "timeout_seconds" in table:
            positive("timeout_seconds", table["timeout_seconds"], tname)
        if table.get("max_retries", 0) < 0:
            raise c.fail("must be 0 or more", "max_retries", tname)
        key_name = table.get("api_key")
        if key_name is not None and (
            len(key_name) > 64 or re.match(r"(sk|sk-ant|sk-or|sk-proj|gsk|xai)[-_]", key_name)
            or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]*", key_name)
        ):
            # never echo the value: it may be the key itself
            raise c.fail("is the NAME of a secret, and this looks like a key itself; store "
                         f"the key with `promptly secrets set {name}` and write "
                         f'api_key = "{name}"', "api_key", tname)
        merged.setdefault(name, {}).update(table)
    for name, table in merged.items():
        providers[name] = ProviderConfig(
            name=name,
            kind=table.get("kind", "openai"),
            base_url=table["base_url"].rstrip("/"),
            api_key=table.get("api_key"),
            local=bool(table.get("local", name in LOCAL_PROVIDERS)),
            timeout_seconds=float(table.get("timeout_seconds", 120.0)),
            max_retries=int(table.get("max_retries", 3)),
        )

    budget_raw = raw.get("budget", {})
    c.check(budget_raw, _BUDGET_KEYS, "budget")
    for key, value in budget_raw.items():
        if value < 0:
            raise c.fail("must be 0 or more", key, "budget")
    smtp_raw = raw.get("smtp", {})
    c.check(smtp_raw, _SMTP_KEYS, "smtp")
    security = smtp_raw.get("security", "starttls")
    if security not in SMTP_SECURITY:
        raise c.fail(f"must be 'starttls', 'tls' or 'none', got {security!r}", "security",
                     "smtp")
    smtp_port = smtp_raw.get("port", SMTP_DEFAULT_PORTS[security])
    if not 0 < smtp_port < 65536:
        raise c.fail("must be a TCP port (1-65535)", "port", "smtp")
    sms_raw = raw.get("sms", {})
    c.check(sms_raw, _SMS_KEYS, "sms")
    if "base_url" in sms_raw and not re.match(r"https?://", sms_raw["base_url"]):
        raise c.fail("must be an http:// or https:// URL", "base_url", "sms")
    if sms_raw.get("max_length", 1600) < 40:
        raise c.fail("must be at least 40", "max_length", "sms")
    delivery_raw = raw.get("delivery", {})
    c.check(delivery_raw, _DELIVERY_KEYS, "delivery")
    schedule = delivery_raw.get("retry_schedule_seconds", list(DEFAULT_RETRY_SCHEDULE))
    if any(isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in schedule):
        raise c.fail("must be a list of seconds (numbers, 0 or more), e.g. [5, 300, 1800]",
                     "retry_schedule_seconds", "delivery")
    if "timeout_seconds" in delivery_raw:
        positive("timeout_seconds", delivery_raw["timeout_seconds"], "delivery")

    web = _web(raw.get("web", {}), c)
    cfg_dir = (path.parent if path else default_config_path(env).parent)
    default_model = raw.get("default_model", DEFAULT_MODEL)
    if "/" not in default_model:
        raise c.fail("must be 'provider/model', e.g. 'ollama/llama3.2'", "default_model")
    socket_path = socket_override or env.get("PROMPTLY_SOCKET") or raw.get("socket")
    return Config(
        path=path,
        timezone=tz,
        organization_name=raw.get("organization_name", "Home"),
        default_model=default_model,
        database=_expand(raw.get("database"), data_home(env) / "promptly" / "promptly.db", env),
        skills_dir=_expand(raw.get("skills_dir"), config_home(env) / "promptly" / "skills",
                           env),
        socket=_expand(socket_path, runtime_dir(env) / "promptlyd.sock", env),
        config_dir=cfg_dir,
        max_concurrent_runs=raw.get("max_concurrent_runs", 4),
        run_timeout_seconds=float(raw.get("run_timeout_seconds", 600)),
        catch_up_window_hours=float(raw.get("catch_up_window_hours", 24)),
        shutdown_grace_seconds=float(raw.get("shutdown_grace_seconds", 30)),
        max_tool_rounds=raw.get("max_tool_rounds", 10),
        max_tool_output_chars=raw.get("max_tool_output_chars", 20_000),
        source_connect_timeout_seconds=float(raw.get("source_connect_timeout_seconds", 20)),
        tool_timeout_seconds=float(raw.get("tool_timeout_seconds", 60)),
        request_timeout_seconds=float(raw.get("request_timeout_seconds", 10)),
        secrets_backend=backend,
        log_level=level,
        providers=providers,
        budget=BudgetConfig(**budget_raw),
        smtp=SmtpConfig(
            host=smtp_raw.get("host"), port=smtp_port, security=security,
            username=smtp_raw.get("username"), sender=smtp_raw.get("from"),
            reply_to=smtp_raw.get("reply_to"),
        ),
        sms=SmsConfig(
            base_url=sms_raw.get("base_url", SmsConfig.base_url),
            account_sid=sms_raw.get("account_sid"), sender=sms_raw.get("from"),
            max_length=sms_raw.get("max_length", 1600),
        ),
        delivery=DeliveryConfig(
            retry_schedule_seconds=tuple(float(v) for v in schedule),
            timeout_seconds=float(delivery_raw.get("timeout_seconds", 15)),
        ),
        web=web,
    )


def _web(raw: dict[str, Any], c: _Checker) -> WebConfig:
    c.check(raw, _WEB_KEYS, "web")
    listen = raw.get("listen") or None
    allow_remote = bool(raw.get("allow_remote", False))
    if listen is not None:
        try:
            host, _port = split_listen(listen)
        except ValueError as exc:
            raise c.fail(str(exc), "listen", "web") from exc
        if not is_loopback(host):
            import ipaddress

            try:
                ipaddress.ip_address(host)
            except ValueError as exc:
                raise c.fail(f"must be an IP address (or localhost), got {host!r}", "listen",
                             "web") from exc
            if not allow_remote:
                raise c.fail(f"{host} is not a loopback address: other machines could reach "
                             "the dashboard; use 127.0.0.1 (or set allow_remote = true if "
                             "you really mean it)", "listen", "web")
    return WebConfig(listen=listen, allow_remote=allow_remote)


def _expand(value: str | None, default: Path, env: Mapping[str, str]) -> Path:
    """``~`` and ``$VAR``/``${VAR}`` expanded from ``env`` (not the process's own)."""
    if not value:
        return default
    text = re.sub(r"\$(\w+)|\$\{(\w+)\}",
                  lambda m: env.get(m.group(1) or m.group(2), m.group(0)), value)
    if text == "~" or text.startswith("~/"):
        text = env.get("HOME", str(Path("~").expanduser())) + text[1:]
    return Path(text)
