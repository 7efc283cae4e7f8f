"""The shipped unit and plist, rendered for this machine (pure)."""

from __future__ import annotations

import plistlib
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

UNIT_NAME = "promptlyd.service"
LABEL = "com.promptly.promptlyd"
STOP_MARGIN = 30  # seconds TimeoutStopSec leaves beyond shutdown_grace_seconds
MIN_STOP_TIMEOUT = 60

# The keys the hardening rests on: a rendered unit must keep every one.
HARDENING = ("NoNewPrivileges", "PrivateTmp", "ProtectSystem", "ProtectHome", "ReadWritePaths",
             "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
             "RestrictSUIDSGID", "LockPersonality", "RestrictRealtime",
             "SystemCallArchitectures", "UMask")


def shipped(name: str) -> str:
    return (resources.files("promptlyd") / "data" / "systemd" / name).read_text()


def _quote(path: Path) -> str:
    """A path as systemd reads it in ExecStart/ReadWritePaths (spaces quoted, % doubled)."""
    text = str(path).replace("%", "%%")
    return f'"{text}"' if any(c.isspace() for c in text) else text


def stop_timeout(grace_seconds: float) -> int:
    return max(MIN_STOP_TIMEOUT, int(grace_seconds) + STOP_MARGIN)


def render_unit(template: str, *, executable: Path, writable: Iterable[Path],
                grace_seconds: float) -> str:
    """The unit with ``ExecStart`` = ``executable``, ``ReadWritePaths`` = the folders the
    daemon writes (config, data, skills, socket), ``TimeoutStopSec`` above the grace."""
    folders = " ".join(dict.fromkeys(_quote(p) for p in writable))
    replacements = {
        "ExecStart": _quote(executable),
        "ReadWritePaths": folders,
        "TimeoutStopSec": str(stop_timeout(grace_seconds)),
    }
    out = template
    for key, value in replacements.items():
        line = f"{key}={value}".replace("\\", "\\\\")  # a literal replacement
        out, count = re.subn(rf"^{key}=.*$", line, out, count=1, flags=re.MULTILINE)
        if count != 1:
            raise ValueError(f"the shipped unit has no {key}= line")
    return out


def unit_values(text: str) -> dict[str, str]:
    """``Key=value`` lines of a unit (the last one of each key wins)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def render_plist(template: str, *, executable: Path, log_file: Path) -> bytes:
    """The LaunchAgent with ``ProgramArguments`` = ``executable`` and its log file."""
    data = plistlib.loads(template.encode())
    data["ProgramArguments"] = [str(executable)]
    data["StandardErrorPath"] = str(log_file)
    data["StandardOutPath"] = str(log_file)
    return plistlib.dumps(data)
