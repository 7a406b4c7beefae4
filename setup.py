"""Build step that pyproject.toml cannot express: ship the data files and a compiled French catalog.

`pip install .` builds a wheel from `bot/` alone; the bot also needs `questionnaires/` (instruments, schedule,
rules, opioid table) and the French catalog. The build copies `questionnaires/` into the package as
`bot/_data/questionnaires/` and compiles `locales/fr/LC_MESSAGES/messages.po` into
`bot/_data/locales/fr/LC_MESSAGES/messages.mo` (refusing untranslated or fuzzy entries, like
`python -m bot compile-catalog`); `bot/resources.py` looks there first. An editable install uses the checkout's
own folders instead, so nothing is copied then.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_FILES = ("*.yaml", "*.md", "*.txt")


class BuildWithData(build_py):
    """`build_py`, then the questionnaires and the compiled catalog under `bot/_data/`."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "bot" / "_data"
        questionnaires = target / "questionnaires"
        shutil.rmtree(target, ignore_errors=True)
        questionnaires.mkdir(parents=True)
        for pattern in DATA_FILES:
            for source in (ROOT / "questionnaires").glob(pattern):
                shutil.copy2(source, questionnaires / source.name)
        for po_path in (ROOT / "locales").glob("*/LC_MESSAGES/*.po"):
            with po_path.open("rb") as fh:
                catalog = read_po(fh, locale=po_path.parent.parent.name)
            problems = [
                m.id
                for m in catalog
                if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))
            ]
            if problems:
                raise SystemExit(f"{po_path}: {len(problems)} untranslated or fuzzy message(s), e.g. {problems[0]!r}")
            mo_path = target / po_path.relative_to(ROOT).with_suffix(".mo")
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with mo_path.open("wb") as fh:
                write_mo(fh, catalog)


setup(cmdclass={"build_py": BuildWithData})
