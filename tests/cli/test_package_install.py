"""`pip install .` (not editable) gives a working bot: data files and the French catalog are in the package
(issue #20, "A real package").

How, and why this is honest while fast: the wheel is built from the checkout by pip with build isolation (the
build back-end and Babel come from the package index, as for any user), then installed with `--no-deps --no-index`
into a brand-new virtualenv. Only the *dependencies* are borrowed from the test virtualenv, through a `.pth` line
naming its site-packages: a plain path line does not run the editable install's own `.pth` hook, so the checkout's
`bot/` is not importable there, and every command runs from an empty folder (no `bot/` next to it). The test
asserts that `bot` was imported from the new virtualenv, then starts `python -m bot sandbox` and loads its page.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BOT_", "TELEGRAM_", "CLINICIAN_"))}
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_plain_pip_install_runs_the_sandbox(tmp_path: Path) -> None:
    wheels, venv, work = tmp_path / "wheels", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, ROOT, cwd=work)
    (wheel,) = wheels.glob("spinal_pro_bot-*.whl")
    base_python = getattr(sys, "_base_executable", sys.executable)
    run(base_python, "-m", "venv", venv, cwd=work)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=work).stdout.strip())
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=work)

    where = run(python, "-c", "import bot, bot.resources as r; print(bot.__file__); print(r.data_root())", cwd=work)
    module, data_root = where.stdout.split()
    assert module.startswith(str(venv)) and data_root.startswith(str(venv)), where.stdout
    french = run(python, "-c", "from bot.domain.enrolment import usage; print(usage())", cwd=work).stdout
    assert french.startswith("Utilisation : /enroll"), french  # the catalog compiled at build time
    assert (Path(data_root) / "locales" / "fr" / "LC_MESSAGES" / "messages.mo").exists()
    assert (Path(data_root) / "questionnaires" / "schedule.yaml").exists()

    port = free_port()
    sandbox = subprocess.Popen(
        [str(python), "-m", "bot", "sandbox", "--port", str(port)],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        page = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sandbox.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5) as response:
                    page = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert sandbox.poll() is None, sandbox.communicate()[0]
        assert '"version"' in page, page[:500]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert "Téléphone du patient" in response.read().decode()
        # The bot itself speaks French (only the command line's own messages are English).
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/enroll",
            method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"study_id": "P-PKG", "rt_start": "2027-03-03", "fractions": 1}).encode(),
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            reply = json.loads(response.read())
        assert reply["ok"] and "Patient P-PKG inclus" in reply["reply"], reply
    finally:
        sandbox.terminate()
        output = sandbox.communicate(timeout=60)[0]
    assert sandbox.returncode == 0, output
    assert "Traceback" not in output, output
    assert (work / "data" / f"sandbox-{port}.sqlite3").exists()
