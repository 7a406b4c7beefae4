"""How the command line names itself in the hints it prints (issue 34, item 7).

Why one constant: a newcomer copies the command a message shows. `bash scripts/run.sh` installs the bot in `.venv/`
without activating it, so the command that works as printed is `.venv/bin/python -m bot …`, in every hint alike.
"""

from __future__ import annotations

from typing import Final

__all__ = ["COMMAND", "command"]

COMMAND: Final[str] = ".venv/bin/python -m bot"


def command(arguments: str) -> str:
    """`command("sandbox --port 8081")` → `.venv/bin/python -m bot sandbox --port 8081`."""
    return f"{COMMAND} {arguments}"
