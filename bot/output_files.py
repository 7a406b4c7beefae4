"""Guards for every file the command line writes (`export --out`, `report --out`, `backup`).

Why: an export written over the trial database (`export --out <BOT_DATABASE>`) destroys the trial's data, and one
written over its `-wal` or `-shm` corrupts it; an existing export silently replaced may be the one a statistician
is reading. So the database and its side files are always refused, an existing file needs `--force`, and the
writers themselves go through a temporary file and a rename (`bot.export.dataset.atomic_write`,
`bot.backup.backup`), so an interrupted write never leaves a truncated file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from bot.storage.db import SIDE_FILES, is_postgres_url


def database_files(database: Path | str) -> tuple[Path, ...]:
    """The database file and the side files SQLite keeps next to it (none for a PostgreSQL URL: no local file).

    Both spellings are protected: the name given (`BOT_DATABASE`, perhaps a symlink) with its `-wal`/`-shm`/
    `-journal`, and the real file behind every symlink with its own side files, which is where SQLite keeps
    them (it resolves the link before naming the `-wal`). Without the second set, `export --out <real>-wal
    --force` overwrote the live WAL of a symlinked database (issue 39, item 3).
    """
    if is_postgres_url(database):
        return ()
    given = Path(database)
    real = Path(os.path.realpath(given))
    names = [given, *(Path(f"{given}{suffix}") for suffix in SIDE_FILES)]
    if real != given:
        names += [real, *(Path(f"{real}{suffix}") for suffix in SIDE_FILES)]
    return tuple(names)


def _same(a: Path, b: Path) -> bool:
    """True when `a` and `b` name one file: the same real path (symlinks, `..`), or the same inode (hard links)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def output_problem(path: Path, *, database: Path | str, force: bool = False, can_force: bool = True) -> str | None:
    """Why `path` must not be written (one sentence), or None when it may.

    The database and its `-wal`/`-shm`/`-journal` are refused even with `force`: no command writes over them.
    `can_force` is false for a command without `--force` (backup), so the sentence does not offer it.
    """
    for protected in database_files(database):
        if _same(path, protected):
            return f"{path} is the database or one of its -wal/-shm files ({protected}): choose another file name"
    if path.exists() and not force:
        return f"{path} already exists: choose a new file name" + (
            ", or add --force to replace it" if can_force else ""
        )
    return None


def first_problem(paths: Iterable[Path], *, database: Path | str, force: bool = False) -> str | None:
    """The first problem among several output files (a report writes two)."""
    for path in paths:
        problem = output_problem(path, database=database, force=force)
        if problem:
            return problem
    return None
