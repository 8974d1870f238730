"""What a user without the rights meets: `config check` names the device and the group it lacks and the
file it may not read; `meters import` of a file it cannot read says how to pipe it in, and that works.

Root may open anything, so when the tests run as root the commands run as ``nobody`` (setpriv), as an
installer's ``sudo -u wmbus-gateway`` would; otherwise as the current user, with the files made unreadable.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "config" / "meters.example.csv"


def other_user() -> tuple[list[str], str]:
    """The command prefix that runs as a user without root's rights, and that user's name."""
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        if os.environ.get("CI") == "true":
            pytest.fail("setpriv (util-linux) is needed to run as another user")
        pytest.skip("setpriv (util-linux) is needed to run as another user")
    nobody = pwd.getpwnam("nobody")
    return [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"], "nobody"


def run_as_other_user(folder: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix, _ = other_user()
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COLUMNS": "250", "HOME": str(folder)}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "gateway", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
        env=environment,
        check=False,
    )


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder the other user may enter (pytest's own are root's alone), with a state folder it may write."""
    path = Path(tempfile.mkdtemp(prefix="wmbus-perm-"))
    path.chmod(0o755)
    (path / "state").mkdir(mode=0o777)
    (path / "state").chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_config_check_names_the_device_the_user_may_not_open_and_the_file_it_may_not_read(
    folder: Path,
) -> None:
    master, slave = os.openpty()
    device = os.ttyname(slave)
    try:
        os.chmod(device, 0o000)  # a stick whose group the user is not in
        secret = folder / "mqtt-password"
        secret.write_text("s3cret\n")
        secret.chmod(0o000)
        config = folder / "gateway.toml"
        config.write_text(
            f'[gateway]\nstate_dir = "{folder / "state"}"\n\n'
            f'[[radio]]\ntype = "im871a"\nname = "roof"\ndevice = "{device}"\n\n'
            f'[mqtt]\nurl = "mqtt://broker:1883"\nusername = "gw"\npassword_file = "{secret}"\n'
        )
        config.chmod(0o644)
        result = run_as_other_user(folder, "config", "check", "--config", str(config))
    finally:
        os.close(master)
        os.close(slave)
    _, user = other_user()
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert lines[0] == "error: 2 problems:"
    assert any(
        line.startswith(f"radio[0] (roof).device: user {user} may not open {device} (group ")
        and "add the user to group" in line
        for line in lines
    ), lines
    assert f"mqtt.password_file: user {user} may not read {secret}" in lines
    assert "s3cret" not in result.stdout + result.stderr


def test_meters_import_of_an_unreadable_file_says_to_pipe_it_in_and_piping_works(folder: Path) -> None:
    installer_list = folder / "installer-list.csv"
    shutil.copyfile(EXAMPLE_CSV, installer_list)
    installer_list.chmod(0o000)  # in the installer's home folder, say
    state = folder / "state"
    result = run_as_other_user(folder, "meters", "import", str(installer_list), "--state-dir", str(state))
    _, user = other_user()
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert f"{installer_list}: permission denied for user {user}" in message
    assert f"meters import - < {installer_list}" in message

    piped = run_as_other_user(
        folder, "meters", "import", "-", "--state-dir", str(state), stdin=EXAMPLE_CSV.read_text()
    )
    assert piped.returncode == 0, piped.stderr
    listed = run_as_other_user(folder, "meters", "list", "--state-dir", str(state))
    first_meter = EXAMPLE_CSV.read_text().splitlines()[1].split(",")[0]
    assert listed.returncode == 0 and first_meter in listed.stdout
