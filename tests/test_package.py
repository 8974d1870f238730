"""The Debian package: built by scripts/build-deb.sh, listed, installed into a scratch root, run there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway import __version__

REPO = Path(__file__).resolve().parents[1]
TELEGRAM = (
    "2E44333003020100071B7A634820252F2F0265840842658308820165950802FB1AAE0142FB1AAE018201FB1AA9012F"
)


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, check=False, timeout=900, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def deb() -> Path:
    if shutil.which("dpkg-deb") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dpkg-deb missing")
        pytest.skip("dpkg-deb missing (not a Debian machine)")
    built = _run(str(REPO / "scripts" / "build-deb.sh")).strip().splitlines()[-1]
    path = REPO / built
    arch = _run("dpkg", "--print-architecture").strip()
    assert path.name == f"wmbus-gateway_{__version__}_{arch}.deb"
    return path


def test_package_holds_what_an_installer_needs(deb: Path) -> None:
    listing = _run("dpkg-deb", "--contents", str(deb))
    for path in (
        "./usr/bin/wmbus-gateway -> /opt/wmbus-gateway/.venv/bin/wmbus-gateway",
        "./lib/systemd/system/wmbus-gateway.service",
        "./lib/systemd/system/wmbus-ingest.service",
        "./lib/udev/rules.d/99-wmbus-dongles.rules",
        "./etc/wmbus-gateway/gateway.toml",
        "./opt/wmbus-gateway/requirements.lock",
        f"./opt/wmbus-gateway/wheels/wmbus_gateway-{__version__}-py3-none-any.whl",
    ):
        assert path in listing, path
    assert _run("dpkg-deb", "--field", str(deb), "Package", "Version").split() == [
        "Package:",
        "wmbus-gateway",
        "Version:",
        __version__,
    ]
    control = Path(_run("mktemp", "-d").strip())
    _run("dpkg-deb", "--control", str(deb), str(control))
    assert (control / "conffiles").read_text().split() == ["/etc/wmbus-gateway/gateway.toml"]
    # every locked dependency is shipped as a wheel: the install needs no network
    locked = {
        line.split("==")[0].lower().replace("-", "_")
        for line in (REPO / "requirements.lock").read_text().splitlines()
        if line and line[0].isalpha()
    }
    wheels = {
        line.rsplit("/", 1)[1].split("-")[0].lower()
        for line in listing.splitlines()
        if line.endswith(".whl")
    }
    assert locked <= wheels
    shutil.rmtree(control)


def test_installed_into_a_scratch_root_it_runs(deb: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    control = tmp_path / "control"
    _run("dpkg-deb", "--extract", str(deb), str(root))
    _run("dpkg-deb", "--control", str(deb), str(control))
    _run(str(control / "postinst"), "configure", env={"DPKG_ROOT": str(root)})
    command = root / "opt" / "wmbus-gateway" / ".venv" / "bin" / "wmbus-gateway"
    assert _run(str(command), "--version").strip() == f"wmbus-gateway {__version__}"
    decoded = json.loads(_run(str(command), "decode", TELEGRAM))
    assert (decoded["id"], decoded["manufacturer"], decoded["external_temperature_c"]) == (
        "00010203",
        "LAS",
        21.8,
    )
    # remove keeps configuration and state; purge takes them
    state = root / "var" / "lib" / "wmbus-gateway"
    state.mkdir(parents=True)
    _run(str(control / "postrm"), "remove", env={"DPKG_ROOT": str(root)})
    assert not (root / "opt" / "wmbus-gateway" / ".venv").exists()
    assert state.exists() and (root / "etc" / "wmbus-gateway" / "gateway.toml").exists()
    _run(str(control / "postrm"), "purge", env={"DPKG_ROOT": str(root)})
    assert not state.exists() and not (root / "etc" / "wmbus-gateway").exists()


def test_lock_pins_every_runtime_dependency() -> None:
    import tomllib  # noqa: PLC0415

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {
        dep.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower() for dep in declared
    }
    lock = (REPO / "requirements.lock").read_text().lower()
    missing = [name for name in names if f"\n{name}==" not in lock]
    assert not missing, f"run scripts/lock.sh: {missing} not in requirements.lock"


def test_arm64_package_built_on_another_machine_holds_only_aarch64_wheels(deb: Path) -> None:
    if _run("dpkg", "--print-architecture").strip() == "arm64":
        pytest.skip("this machine is arm64: the native build above is the arm64 package")
    built = _run(str(REPO / "scripts" / "build-deb.sh"), "--arch", "arm64").strip().splitlines()[-1]
    path = REPO / built
    assert path.name == f"wmbus-gateway_{__version__}_arm64.deb"
    assert _run("dpkg-deb", "--field", str(path), "Architecture").strip() == "arm64"
    wheels = [
        line.rsplit("/", 1)[-1]
        for line in _run("dpkg-deb", "--contents", str(path)).splitlines()
        if line.endswith(".whl")
    ]
    compiled = [name for name in wheels if not name.endswith(("-none-any.whl", "-py3-none-any.whl"))]
    assert compiled, wheels  # orjson, pycryptodome and pydantic-core are compiled
    assert all("aarch64" in name for name in compiled), compiled


def test_build_refuses_an_architecture_it_cannot_package() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "build-deb.sh"), "--arch", "sparc"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no package for architecture sparc" in result.stderr
