"""What ``config check`` looks at beyond the file itself: devices, programs and files the daemon will open.

Each problem is one line of plain text naming the key, the path and what to do; all are reported at once.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import stat
from pathlib import Path

from gateway.daemon.config import GatewayConfig, SourceKind


def current_user() -> str:
    """The effective user's name (the one the kernel checks), not $USER."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _group_of(path: str) -> str:
    try:
        gid = os.stat(path).st_gid
    except OSError:
        return "?"
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def check_device(key: str, device: str) -> str | None:
    """The device exists and the current user may read and write it."""
    if not os.path.exists(device):
        return f"{key}: {device} does not exist (stick unplugged, or no udev rule: ls -l /dev/wmbus-*)"
    if not os.access(device, os.R_OK | os.W_OK):
        group = _group_of(device)
        return (
            f"{key}: user {current_user()} may not open {device} (group {group}): add the user to group"
            f" {group} (see docs/install.md), then log in again"
        )
    return None


def check_readable(key: str, path: Path) -> str | None:
    """A file the daemon reads (password, CA, certificate, key, recording)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{key}: {path} does not exist"
    except OSError as err:
        return f"{key}: {path}: {err.strerror}"
    if not stat.S_ISREG(mode):
        return f"{key}: {path} is not a file"
    if not os.access(path, os.R_OK):
        return f"{key}: user {current_user()} may not read {path}"
    return None


def check_command(key: str, command: str) -> str | None:
    """The program a pipeline starts with is installed."""
    try:
        words = shlex.split(command)
    except ValueError as err:
        return f"{key}: cannot parse the command: {err}"
    program = next((word for word in words if "=" not in word), None)
    if program is not None and shutil.which(program) is None and not Path(program).is_file():
        return f"{key}: program {program!r} not found on PATH (see docs/install.md for rtl_wmbus and rtl_433)"
    return None


def check_state_dir(path: Path) -> str | None:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"gateway.state_dir: user {current_user()} may not write {existing}"
    return None


def preflight(config: GatewayConfig) -> list[str]:
    """Every problem the daemon would meet opening what the configuration names."""
    problems: list[str | None] = []
    for index, source in enumerate(config.sources):
        key = f"radio[{index}] ({source.name})"
        if source.device is not None:
            problems.append(check_device(f"{key}.device", source.device))
        if source.kind is SourceKind.REPLAY and source.path is not None:
            problems.append(check_readable(f"{key}.path", source.path))
        command = source.command
        if source.kind is SourceKind.RTL_433 and command is None:
            from gateway.radio.rtl433 import DEFAULT_COMMAND  # noqa: PLC0415

            command = DEFAULT_COMMAND
        if command is not None and command != "-":
            problems.append(check_command(f"{key}.command", command))
    mqtt = config.mqtt
    if mqtt is not None:
        for name in ("password_file", "ca_file", "cert_file", "key_file"):
            path = getattr(mqtt, name)
            if path is not None:
                problems.append(check_readable(f"mqtt.{name}", path))
    problems.append(check_state_dir(config.state_dir))
    return [problem for problem in problems if problem is not None]
