"""`python -m bot screen`: the free-text red-flag screen from the shell, for one message or a JSONL file.

Why: a site checks the screen on its own messages (exported, anonymised) before trusting it, and a reviewer reads
what it would do to a phrase without starting the bot. One text prints its level and categories; `--jsonl IN --out
OUT` writes, line for line and in the same order, `{"text", "severity", "categories"}` (the input's other fields are
kept). Expected failures (unreadable input, a line that is not a JSON object with a string "text") end with one
English sentence on stderr and exit code 2, like every other command of `python -m bot`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.commandline import command
from bot.domain.free_text_screen import FreeTextVocabulary, load_free_text_vocabulary, screen_severity
from bot.domain.screen_classifier import with_second_opinion

__all__ = ["ScreenInputError", "add_command", "run_command", "screen_jsonl"]


class ScreenInputError(ValueError):
    """The input cannot be screened; the message is one sentence naming the file and the line."""


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    screen = sub.add_parser("screen", help="run the French free-text red-flag screen on a text or a JSONL file")
    screen.add_argument("text", nargs="?", help="a message to screen (quote it)")
    screen.add_argument("--jsonl", help='input file: one {"text": ...} object per line')
    screen.add_argument("--out", help="output JSONL file (required with --jsonl)")
    screen.add_argument("--vocabulary", help="another vocabulary file (default: the shipped one)")
    screen.add_argument(
        "--train",
        action="store_true",
        help="retrain the second-opinion classifier on docs/clinical/screen-corpora/*.jsonl and write its weights",
    )
    screen.add_argument("--rules-only", action="store_true", help="screen with the rules alone (no classifier)")


def run_command(args: argparse.Namespace, vocabulary_path: Path) -> int:
    if args.train:
        return _train()
    vocabulary = load_free_text_vocabulary(Path(args.vocabulary) if args.vocabulary else vocabulary_path)
    if not args.rules_only:
        vocabulary = with_second_opinion(vocabulary)
    if args.jsonl:
        if args.text is not None:
            print("Give either a text or --jsonl, not both.", file=sys.stderr)
            return 2
        if not args.out:
            print("--jsonl needs --out (the file to write the results to).", file=sys.stderr)
            return 2
        try:
            count = screen_jsonl(Path(args.jsonl), Path(args.out), vocabulary)
        except ScreenInputError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"{count} messages screened, results in {args.out}")
        return 0
    if args.text is None:
        print(f'Give a text to screen ({command("screen")} "texte") or --jsonl IN --out OUT.', file=sys.stderr)
        return 2
    severity, categories = screen_severity(args.text, vocabulary)
    print(f"severity: {severity}")
    for category in categories:
        flag = vocabulary.flag_for(category)
        print(f"category: {category} ({flag.severity}) {flag.label}")
    return 0


def screen_jsonl(source: Path, destination: Path, vocabulary: FreeTextVocabulary) -> int:
    """Screen every line of `source` into `destination` (same order); the number of messages screened.

    Every line is read and checked before the output is written, so a bad line leaves no half-written file."""
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScreenInputError(f"Cannot read {source}: {getattr(exc, 'strerror', None) or exc}.") from exc
    results: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ScreenInputError(f"{source} line {number} is not valid JSON ({exc.msg}).") from exc
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ScreenInputError(f'{source} line {number} is not a JSON object with a string "text".')
        severity, categories = screen_severity(record["text"], vocabulary)
        results.append(json.dumps({**record, "severity": severity, "categories": list(categories)}, ensure_ascii=False))
    try:
        _write(destination, results)
    except OSError as exc:
        raise ScreenInputError(f"Cannot write {destination}: {exc.strerror or exc}.") from exc
    return len(results)


def _train() -> int:
    """`python -m bot screen --train`: the shipped weights, regenerated from the corpora (deterministic)."""
    from bot.domain.screen_classifier import (
        DEFAULT_CORPORA_DIR,
        DEFAULT_WEIGHTS_PATH,
        load_corpora,
        save_classifier,
        train,
    )

    if not DEFAULT_CORPORA_DIR.is_dir():
        print(f"Cannot train: {DEFAULT_CORPORA_DIR} is missing (train from a checkout).", file=sys.stderr)
        return 2
    rows = [row for rows in load_corpora().values() for row in rows]
    model = train(rows)
    save_classifier(model, DEFAULT_WEIGHTS_PATH)
    print(f"trained on {len(rows)} messages, data digest {model.digest[:12]}, weights in {DEFAULT_WEIGHTS_PATH}")
    return 0


def _write(destination: Path, lines: list[str]) -> None:
    with destination.open("w", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)
