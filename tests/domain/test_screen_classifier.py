"""The screen's second opinion (`bot.domain.screen_classifier`): deterministic, matched to its data, raise-only.

Why each test: the shipped weights must be the ones `python -m bot screen --train` makes from the corpora in the
repository (a stale file would be an untested model); training must give the same weights every time (else the
figures in docs/clinical/free-text-screen.md cannot be reproduced); and whatever the classifier says, it may only
RAISE the rules' level, never drop a category the rules found (a suicidal message stays suicidal).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from harness import Bench, answer_all
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.free_text_screen import (
    DEFAULT_VOCABULARY_PATH,
    load_free_text_vocabulary,
    screen_free_text,
    screen_severity,
)
from bot.domain.screen_classifier import (
    CLASSES,
    DEFAULT_WEIGHTS_PATH,
    GROUP_CATEGORY,
    THRESHOLD,
    classify,
    corpora_digest,
    features,
    load_classifier,
    load_corpora,
    save_classifier,
    train,
    with_second_opinion,
)

REPO = Path(__file__).resolve().parents[2]
_RULES = load_free_text_vocabulary(DEFAULT_VOCABULARY_PATH)
_CORPORA = load_corpora()
_TEXTS = [row["text"] for rows in _CORPORA.values() for row in rows]
_RANK = {"none": 0, "info": 1, "same_day": 2, "urgent": 3}


def test_the_shipped_weights_match_the_corpora_they_were_trained_on() -> None:
    model = load_classifier()
    rows = [row for rows in _CORPORA.values() for row in rows]
    assert model.digest == corpora_digest(rows), (
        "docs/clinical/screen-corpora changed since the weights were trained: run `python -m bot screen --train`"
    )


def test_training_is_deterministic(tmp_path: Path) -> None:
    rows = [row for rows in _CORPORA.values() for row in rows[:15]]
    first = train(rows, steps=15)
    second = train(rows, steps=15)
    assert np.array_equal(first.weights, second.weights) and np.array_equal(first.bias, second.bias)
    assert first.digest == second.digest == corpora_digest(rows)
    assert np.abs(first.weights).sum() > 0  # it did learn something
    save_classifier(first, tmp_path / "w.npz")
    again = load_classifier(tmp_path / "w.npz")
    assert np.array_equal(again.weights, first.weights) and again.digest == first.digest


def test_features_are_stable_and_ignore_accents_and_case() -> None:
    assert np.array_equal(features("Il ne sent plus ses jambes"), features("il ne SENT plus ses jambes"))
    assert np.array_equal(features("fièvre"), features("fievre"))
    assert features("").size == 0 and features("🙂 !!").size == 0


def test_every_group_names_a_vocabulary_category() -> None:
    for group, _level in CLASSES[1:]:
        _RULES.flag_for(GROUP_CATEGORY[group])


class _Says:
    """A second opinion that says what the test tells it (the property must hold for ANY classifier)."""

    def __init__(self, opinion: tuple[str, str] | None) -> None:
        self._opinion = opinion

    def opinion(self, text: str) -> tuple[str, str] | None:
        return self._opinion


_OPINIONS = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(sorted(GROUP_CATEGORY.values())), st.sampled_from(["urgent", "same_day"])),
)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.sampled_from(_TEXTS), st.text(max_size=80)), opinion=_OPINIONS)
def test_a_second_opinion_only_raises(text: str, opinion: tuple[str, str] | None) -> None:
    rules_level, rules_categories = screen_severity(text, _RULES)
    level, categories = screen_severity(text, replace(_RULES, second_opinion=_Says(opinion)))
    assert _RANK[level] >= _RANK[rules_level]
    assert set(rules_categories) <= set(categories)
    rules_flags = {flag.category: flag.severity for flag in screen_free_text(text, _RULES)}
    flags = {
        flag.category: flag.severity for flag in screen_free_text(text, replace(_RULES, second_opinion=_Says(opinion)))
    }
    for category, severity in rules_flags.items():
        assert _RANK[flags[category]] >= _RANK[severity]
    if opinion is not None and _RANK[opinion[1]] > _RANK[rules_level]:
        assert level == opinion[1] and flags[opinion[0]] == opinion[1]
    else:
        assert (level, categories) == (rules_level, rules_categories)


def test_a_calm_message_the_classifier_is_unsure_of_is_left_to_the_rules() -> None:
    text = "Je n'ai plus de douleur dans les jambes, ça va mieux"
    model = load_classifier()
    group, _level, probability = classify(text, model)
    assert group != "not_urgent" and probability < model.threshold  # its best guess is a danger group, unsure
    assert model.opinion(text) is None
    assert screen_severity(text, with_second_opinion(_RULES)) == ("none", ())


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Ma mère répète qu'elle veut partir pour de bon, qu'on serait mieux sans elle.", "suicidal"),
        ("Mon père ne répond plus quand on l'appelle, il a les yeux ouverts mais il est absent.", "unconscious"),
    ],
)
def test_the_shipped_classifier_names_the_group_so_the_advice_matches(text: str, category: str) -> None:
    model = load_classifier(DEFAULT_WEIGHTS_PATH)
    assert model.threshold == THRESHOLD
    assert model.opinion(text) == (category, "urgent")
    level, categories = screen_severity(text, with_second_opinion(_RULES))
    assert level == "urgent" and category in categories


# ------------------------------------------------------------------------------------ through the real bot


RT = date(2027, 3, 3)


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    b = Bench(tmp_path)
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


def _urgent_alerts(bench: Bench) -> list[str]:
    return [m.text or "" for m in bench.group_messages() if "ALERTE URGENTE" in (m.text or "")]


async def test_a_farewell_the_rules_miss_is_raised_by_the_classifier_and_answered_with_3114(bench: Bench) -> None:
    text = "J'ai rangé mes papiers et écrit à mes enfants, ce soir je prends tout ce que j'ai, ne m'en voulez pas."
    assert screen_severity(text, _RULES) == ("none", ())  # the rules alone would answer it as an ordinary message
    patient = await bench.join(7001, "P-C1", RT)
    await answer_all(bench, patient)
    before = len(bench.texts(patient.chat_id))
    await bench.patient_says(patient, text)
    await bench.tick()
    replies = bench.texts(patient.chat_id)[before:]
    alerts = _urgent_alerts(bench)
    assert len(alerts) == 1 and "ce soir je prends tout" in alerts[0]
    assert any("3114" in reply and "15" in reply for reply in replies)


def test_the_screen_command_uses_the_second_opinion_unless_told_rules_only(tmp_path: Path) -> None:
    text = "J'ai rangé mes papiers et écrit à mes enfants, ce soir je prends tout ce que j'ai, ne m'en voulez pas."

    def screen(*extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "screen", text, *extra],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
            check=True,
        )
        return done.stdout

    both = screen()
    assert "severity: urgent" in both and "category: suicidal (urgent)" in both
    assert "severity: none" in screen("--rules-only")
