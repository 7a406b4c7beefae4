"""The French free-text red-flag screen (`bot.domain.free_text_screen`) on the phrasing corpus and on any text.

Sensitivity is a requirement, not a target: every positive phrasing of `tests/free_text_corpus.yaml` must be caught
with its expected categories. Specificity is measured on the corpus negatives and must stay at or above
`MIN_SPECIFICITY`. Run this file directly to print the figures for the README:

    .venv/bin/python tests/domain/test_free_text_screen.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.free_text_screen import (
    DEFAULT_VOCABULARY_PATH,
    FreeTextFlag,
    FreeTextVocabulary,
    FreeTextVocabularyError,
    explain_free_text,
    load_free_text_vocabulary,
    screen_free_text,
    screen_severity,
)

CORPUS_PATH = Path(__file__).parents[1] / "free_text_corpus.yaml"
REPO = Path(__file__).resolve().parents[2]
MIN_SPECIFICITY = 0.9
"""Lowest specificity accepted on the corpus negatives. Sensitivity comes first: a benign message that is flagged
costs a nurse a glance; a red flag that is missed can cost a patient's legs."""
ISSUE_PHRASE = "Je ne sens plus mes jambes depuis ce matin et je n'arrive plus a uriner"
_VOCABULARY = load_free_text_vocabulary(DEFAULT_VOCABULARY_PATH)


@dataclass(frozen=True)
class Case:
    text: str
    expect: frozenset[str]
    tolerate: frozenset[str]
    added_after_first_run: bool


@dataclass
class CorpusMetrics:
    """What the screen does on the corpus; `sensitivity` counts a positive as caught when all its expected
    categories are found, `exact` when nothing else (beyond its tolerated categories) is found either."""

    positives: int = 0
    caught: int = 0
    exact: int = 0
    negatives: int = 0
    clean: int = 0
    added_after_first_run: int = 0
    missed: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    false_positives: list[tuple[str, list[str]]] = field(default_factory=list)
    extra_categories: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    @property
    def sensitivity(self) -> float:
        return self.caught / self.positives

    @property
    def specificity(self) -> float:
        return self.clean / self.negatives

    def summary(self) -> str:
        return (
            f"{self.positives + self.negatives} phrasings: sensitivity {self.caught}/{self.positives} "
            f"({self.sensitivity:.1%}), specificity {self.clean}/{self.negatives} ({self.specificity:.1%}), "
            f"exact categories {self.exact}/{self.positives} "
            f"({self.added_after_first_run} phrasings were added while tuning the vocabulary)"
        )


def load_corpus(path: Path = CORPUS_PATH) -> list[Case]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Case(
            text=str(item["text"]),
            expect=frozenset(item["expect"]),
            tolerate=frozenset(item.get("tolerate", [])),
            added_after_first_run=item.get("added") in ("after-first-run", "held-out-probe", "round-2"),
        )
        for item in raw["cases"]
    ]


def corpus_metrics(vocabulary: FreeTextVocabulary | None = None, cases: list[Case] | None = None) -> CorpusMetrics:
    """Sensitivity and specificity of the screen on the corpus (the figures the README reports)."""
    vocabulary = vocabulary or load_free_text_vocabulary(DEFAULT_VOCABULARY_PATH)
    metrics = CorpusMetrics()
    for case in cases if cases is not None else load_corpus():
        metrics.added_after_first_run += case.added_after_first_run
        found = {flag.category for flag in screen_free_text(case.text, vocabulary)}
        if case.expect:
            metrics.positives += 1
            if case.expect <= found:
                metrics.caught += 1
                if found <= case.expect | case.tolerate:
                    metrics.exact += 1
                else:
                    metrics.extra_categories.append((case.text, sorted(case.expect), sorted(found)))
            else:
                metrics.missed.append((case.text, sorted(case.expect), sorted(found)))
        else:
            metrics.negatives += 1
            if found:
                metrics.false_positives.append((case.text, sorted(found)))
            else:
                metrics.clean += 1
    return metrics


@pytest.fixture(scope="module")
def vocabulary() -> FreeTextVocabulary:
    return _VOCABULARY


def categories(text: str, vocabulary: FreeTextVocabulary) -> list[str]:
    return [flag.category for flag in screen_free_text(text, vocabulary)]


# ---------------------------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------------------------
def test_the_corpus_is_large_and_covers_every_category(vocabulary: FreeTextVocabulary) -> None:
    cases = load_corpus()
    positives = [case for case in cases if case.expect]
    negatives = [case for case in cases if not case.expect]
    assert len(cases) >= 120 and len(positives) >= 60 and len(negatives) >= 50
    assert any(case.text == ISSUE_PHRASE for case in cases)
    covered = {category for case in positives for category in case.expect}
    assert covered == set(vocabulary.category_ids)
    known = set(vocabulary.category_ids)
    assert all(case.expect | case.tolerate <= known for case in cases), "a corpus case names an unknown category"


def test_every_positive_phrasing_is_caught_with_its_categories(vocabulary: FreeTextVocabulary) -> None:
    metrics = corpus_metrics(vocabulary)
    assert metrics.missed == [], "missed red flags (text, expected, found):\n" + "\n".join(map(str, metrics.missed))
    assert metrics.sensitivity == 1.0


def test_positives_raise_no_category_beyond_the_expected_or_tolerated(vocabulary: FreeTextVocabulary) -> None:
    metrics = corpus_metrics(vocabulary)
    assert metrics.extra_categories == [], "\n".join(map(str, metrics.extra_categories))


def test_specificity_on_the_negatives_stays_above_the_threshold(vocabulary: FreeTextVocabulary) -> None:
    metrics = corpus_metrics(vocabulary)
    assert metrics.specificity >= MIN_SPECIFICITY, metrics.false_positives
    # The known false positives are documented in the corpus; a new one must be looked at, not absorbed.
    # Issue 31 removed three (a cat's fall resolved, a grandson's fever, "tombée sur une émission").
    assert [text for text, _ in metrics.false_positives] == [
        "je ne peux pas aller au marche demain",
        "je ne saigne plus",
    ]


# ---------------------------------------------------------------------------------------------------------------
# Behaviour the lead codes against
# ---------------------------------------------------------------------------------------------------------------
def test_the_issue_phrase_raises_urgent_numbness_and_bladder_flags_with_french_labels(
    vocabulary: FreeTextVocabulary,
) -> None:
    flags = screen_free_text(ISSUE_PHRASE, vocabulary)
    # Issue 31: retention is also named on its own (urinary_retention), bladder_bowel still raised for the advice.
    assert [flag.category for flag in flags] == ["numbness", "bladder_bowel", "urinary_retention"]
    assert all(flag.severity == "urgent" for flag in flags)
    assert flags[0].label.startswith("Perte de sensibilité")
    assert flags[1].label == "Ne peut plus uriner ou perte des urines ou des selles"
    assert all("_" not in flag.label for flag in flags), "labels are for nurses, not ids"


def test_flags_are_ordered_like_the_vocabulary_and_each_comes_once(vocabulary: FreeTextVocabulary) -> None:
    text = "j'ai de la fievre. je suis tombe. et encore de la fievre, 39, des frissons, et je suis retombe"
    found = categories(text, vocabulary)
    assert found == ["fall", "fever"]
    order = list(vocabulary.category_ids)
    assert order.index("fall") < order.index("fever")


def test_explain_names_the_pattern_and_the_words_it_matched(vocabulary: FreeTextVocabulary) -> None:
    from bot.domain.free_text_screen import explain_free_text

    assert explain_free_text("jsens pu mes jambes", vocabulary)[0] == ("numbness", "@feel @neg @body", "sens pu jambes")
    assert explain_free_text("pas de fièvre", vocabulary) == ()


def test_nothing_found_is_an_empty_tuple(vocabulary: FreeTextVocabulary) -> None:
    assert screen_free_text("Merci, bonne journée", vocabulary) == ()
    assert screen_free_text("", vocabulary) == ()
    assert screen_free_text("   \n 🙂 ", vocabulary) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the negation is the red flag
        ("je ne sens plus mes jambes", ["numbness"]),
        ("je n'arrive plus à uriner", ["bladder_bowel", "urinary_retention"]),
        ("je ne peux plus marcher", ["leg_weakness"]),
        # the negation cancels the sign
        ("plus de douleur dans les jambes", []),
        ("je n'ai pas de fièvre", []),
        ("je n'ai pas eu de fièvre", []),
        ("fièvre : non", []),
        ("la fièvre est partie", []),
        ("aucune chute", []),
        # a negation in another clause does not reach the sign
        ("pas de fièvre, mais je suis tombé", ["fall"]),
        ("pas de fièvre mais des frissons", ["fever"]),
        # "more", not "no longer"
        ("la douleur est de plus en plus insupportable", ["unbearable_pain"]),
        ("j'ai encore plus de fièvre qu'hier", ["fever"]),
        # exclusions
        ("ma femme est tombée malade", []),
        ("je ne sens plus la douleur dans mes jambes", []),
    ],
)
def test_negations_and_exclusions(text: str, expected: list[str], vocabulary: FreeTextVocabulary) -> None:
    assert categories(text, vocabulary) == expected


@pytest.mark.parametrize(
    "text",
    [
        "je ne sens plus mes jambes",
        "jsens pu mes jambes",
        "je ne sens plus mes jaambes",
        "je ne sens plus mes janbes",
        "JE NE SENS PLUS MES JAMBES !!!",
        "je ne sens plus du tout mes deux jambes",
    ],
)
def test_spellings_typos_and_sms_forms_of_one_red_flag(text: str, vocabulary: FreeTextVocabulary) -> None:
    assert "numbness" in categories(text, vocabulary)


def test_same_day_categories_and_vocabulary_metadata(vocabulary: FreeTextVocabulary) -> None:
    thirst = screen_free_text("j'ai soif tout le temps", vocabulary)
    assert thirst == (FreeTextFlag(category="thirst", label="Soif intense", severity="same_day"),)
    assert vocabulary.flag_for("constipation").severity == "same_day"
    assert vocabulary.version == 2
    assert "NICE NG234 (2023)" in vocabulary.source and "CG151" in vocabulary.source
    assert all(category.source for category in vocabulary.categories)
    with pytest.raises(KeyError):
        vocabulary.flag_for("not_a_category")


# ---------------------------------------------------------------------------------------------------------------
# Issue 31: the new danger groups (their ids are a contract with the advice mapping), relatives, context
# ---------------------------------------------------------------------------------------------------------------
NEW_CATEGORIES = {
    "suicidal": "urgent",
    "unconscious": "urgent",
    "bleeding": "urgent",
    "chest_breathing": "urgent",
    "vomiting_swallowing": "same_day",
    "urinary_retention": "urgent",
    "overdose": "urgent",
    "cry_for_help": "urgent",
}
OLD_CATEGORIES = (
    "leg_weakness",
    "numbness",
    "bladder_bowel",
    "fall",
    "fever",
    "confusion",
    "opioid_toxicity",
    "unbearable_pain",
    "thirst",
    "constipation",
)


def test_every_category_id_of_the_contract_exists_with_its_severity_and_a_source(
    vocabulary: FreeTextVocabulary,
) -> None:
    assert set(OLD_CATEGORIES) | set(NEW_CATEGORIES) == set(vocabulary.category_ids)
    for category_id, severity in NEW_CATEGORIES.items():
        assert vocabulary.flag_for(category_id).severity == severity
    sources = {category.id: category.source for category in vocabulary.categories}
    assert "HAS" in sources["suicidal"] and "3114" in sources["suicidal"] and "NG225" in sources["suicidal"]
    assert all("UKONS" in sources[c] for c in ("unconscious", "bleeding", "chest_breathing", "vomiting_swallowing"))
    assert "NG234" in sources["urinary_retention"] and "Caraceni" in sources["overdose"]
    assert "UKONS" in sources["cry_for_help"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a question about a sign the patient HAS stays flagged
        ("est-ce normal de ne plus sentir mes jambes ?", "urgent"),
        ("c'est grave si je crache du sang ?", "urgent"),
        ("Est ce que c'est normal qu'il dorme tout le temps et respire si lentement ?", "urgent"),
        ("Est-ce normal d'avoir du sang dans les selles ?", "urgent"),
        # a general question about side effects, alone in its message, does not alert; with a second sentence it does
        ("Est-ce que la radiothérapie peut provoquer des saignements ?", "none"),
        ("La morphine peut donner des hallucinations ? Mon père en a depuis hier", "urgent"),
        # clear hypotheticals and general questions do not alert
        ("que faire si j'ai de la fièvre ?", "none"),
        ("en cas de fièvre, j'appelle qui ?", "none"),
        ("si jamais il n'arrive plus à uriner, on fait quoi", "none"),
        ("si elle tombe, est-ce que je dois appeler le 15 ?", "none"),
        # but a conditional wish to die is ideation
        ("si ça continue je vais tout avaler d'un coup", "urgent"),
        # resolved past events need both a past marker and a resolution
        ("la semaine dernière j'avais de la fièvre mais ça va", "urgent"),
        ("la semaine dernière j'avais de la fièvre mais ça va mieux", "none"),
        ("j'ai de la fièvre depuis hier mais ça va mieux", "urgent"),
        ("hier j'avais de la fièvre et je ne vais pas bien", "urgent"),
        # relatives describe the patient; other people do not
        ("mon mari ne sent plus ses jambes", "urgent"),
        ("elle n'urine plus depuis ce matin", "urgent"),
        ("ma petite-fille a 39 de fièvre, je ne viendrai pas", "none"),
        # non-clinical uses
        ("il est tombé amoureux", "none"),
        ("38 degrés dehors", "none"),
        ("le dossier était bien fourni", "none"),
        # numbers and rescue doses
        ("EVA 9", "urgent"),
        ("douleur à 9/10", "urgent"),
        ("6 interdoses et ça ne passe pas", "urgent"),
        ("douleur à 3/10", "none"),
        # same day
        ("je vomis tout, même l'eau", "same_day"),
    ],
)
def test_context_questions_relatives_and_numbers(text: str, expected: str, vocabulary: FreeTextVocabulary) -> None:
    assert screen_severity(text, vocabulary)[0] == expected, explain_free_text(text, vocabulary)


# ---------------------------------------------------------------------------------------------------------------
# Round 2 (dev2): cries for help, urinary retention, indirect suicidal phrasings, resolved events told in two
# sentences, look-alikes. Phrasings of the same families as dev2's misses, not dev2's sentences.
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a cry for help: some words anywhere, others only as the whole message (UKONS: "needs urgent help" = red)
        ("SOS", ["cry_for_help"]),
        ("Au secours, venez vite", ["cry_for_help"]),
        ("aidez-moi s'il vous plaît", ["cry_for_help"]),
        ("aidez nous", ["cry_for_help"]),
        ("à l'aide !", ["cry_for_help"]),
        ("HELP", ["cry_for_help"]),
        ("Urgence !!", ["cry_for_help"]),
        ("urgent", ["cry_for_help"]),
        ("aide", ["cry_for_help"]),
        ("Appelez le 15", ["cry_for_help"]),
        ("ce n'est pas urgent", []),
        ("c'est urgent ?", []),
        ("j'ai besoin d'aide pour le formulaire", []),
        ("je marche à l'aide d'une canne", []),
        ("pouvez-vous m'aider à trouver le parking ?", []),
        ("urgences de Lyon, au 2e étage", []),
        # said conditionally or about the past, a cry for help still alerts
        ("si jamais ça recommence j'écris SOS ?", ["cry_for_help"]),
    ],
)
def test_a_cry_for_help_is_its_own_urgent_category(
    text: str, expected: list[str], vocabulary: FreeTextVocabulary
) -> None:
    assert list(screen_severity(text, vocabulary)[1]) == expected, explain_free_text(text, vocabulary)


def test_a_cry_for_help_beside_a_sign_raises_both(vocabulary: FreeTextVocabulary) -> None:
    assert screen_severity("SOS je crache du sang", vocabulary) == ("urgent", ("bleeding", "cry_for_help"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # urinary retention in everyday words, also told by a relative
        ("il pousse mais rien ne sort depuis ce matin", "urgent"),
        ("elle force et ça sort pas", "urgent"),
        ("ça ne vient pas, il essaie depuis 3 heures", "urgent"),
        ("papa n'a pas fait sa petite commission depuis hier", "urgent"),
        ("pas une goutte d'urine depuis cette nuit", "urgent"),
        ("ça fait que quelques gouttes quand je vais aux toilettes", "urgent"),
        ("son urinal est vide depuis ce matin", "urgent"),
        ("ça ne vient pas de la radiothérapie ?", "none"),
        ("le nez ne coule plus", "none"),
        # indirect suicidal phrasings, conjugations and third person
        ("il voudrait s'endormir et ne plus se réveiller", "urgent"),
        ("je veux plus me réveiller le matin", "urgent"),
        ("je veux partir pour de bon", "urgent"),
        ("autant mourir tout de suite", "urgent"),
        ("il pense à la mort sans arrêt", "urgent"),
        ("je suis fatiguée de lutter", "urgent"),
        ("ce serait plus simple si je mourais", "urgent"),
        ("elle a parlé de sauter du balcon", "urgent"),
        ("il veut se tirer une balle", "urgent"),
        ("il a pris toutes ses gélules exprès", "urgent"),
        # never cancelled as past, nor as hypothetical
        ("J'ai eu des idées noires la semaine dernière, ça va mieux", "urgent"),
        # a resolution told in a sentence of its own, after a past event
        ("J'ai eu de la fièvre dimanche. C'est passé.", "none"),
        ("Il a eu de la fièvre dimanche. Maintenant ça va.", "none"),
        ("il avait saigné du nez, ça s'est arrêté", "none"),
        ("j'ai eu des saignements de nez la semaine passée, c'est fini", "none"),
        ("la douleur était à 9 hier, aujourd'hui elle est à 3", "none"),
        # ... but not without the past, nor when the next sentence is not a resolution, nor for another sign
        ("J'ai de la fièvre. Ça va mieux ?", "urgent"),
        ("J'ai eu de la fièvre. Elle est revenue ce soir", "urgent"),
        ("Hier j'ai eu du mal à respirer. Ça ne va pas mieux.", "urgent"),
        ("J'ai eu de la fièvre hier. Ça va mieux mais je saigne du nez depuis une heure", "urgent"),
        ("Elle avait 39 hier soir. Elle a encore 39 ce matin.", "urgent"),
        # questions about signs, instructions to watch, "et si ... ?"
        ("c'est quoi les signes d'une hémorragie ?", "none"),
        ("le docteur a dit de surveiller la fièvre", "none"),
        ("à partir de quelle température faut-il appeler ?", "none"),
        ("et si la fièvre monte, je fais quoi ?", "none"),
        ("Et si je ne sens plus mes jambes depuis ce matin ?", "urgent"),
        # look-alikes
        ("je suis tombée sur une bonne infirmière", "none"),
        ("le café est brûlant", "none"),
        ("il est brûlant et il tremble", "urgent"),
        ("le sang de ma prise de sang est parti au labo", "none"),
        ("mon mari est dégoûté", "none"),
        ("elle n'arrive plus à déglutir", "same_day"),
        ("c'est soigné, on me soigne bien", "none"),
        ("il saignait beaucoup du nez", "urgent"),
        ("les feuilles tombent", "none"),
        ("mon petit-fils s'est cassé la figure au foot", "none"),
        ("mon mari s'est cassé la figure dans l'escalier", "urgent"),
        ("j'ai glissé un mot à l'infirmière", "none"),
        ("ma douleur est passée de 8 à 2 avec le nouveau patch", "none"),
        ("j'ai mis 2 patchs au lieu d'un", "urgent"),
        # "s'il" is "si il"; a general question about what a treatment can do
        ("que faut-il faire s'il ne peut plus uriner ?", "none"),
        ("s'il ne peut plus uriner depuis ce matin, c'est grave ?", "urgent"),
        ("est-ce que les rayons peuvent faire saigner ?", "none"),
        ("combien de temps dure la fièvre après la chimio ?", "none"),
        ("il a eu de la fièvre hier soir mais elle est retombée", "none"),
    ],
)
def test_round_two_families(text: str, expected: str, vocabulary: FreeTextVocabulary) -> None:
    assert screen_severity(text, vocabulary)[0] == expected, explain_free_text(text, vocabulary)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Round 3: how French tells a finished event (a past marker before, a resolution after)
        ("il avait eu de la fièvre la semaine dernière, ça n'est pas revenu", "none"),
        ("Elle était tombée en octobre, elle s'en est remise", "none"),
        ("Il a fait un malaise en mai, rien depuis", "none"),
        ("j'ai eu du sang dans les urines lundi, c'est revenu à la normale", "none"),
        ("il était tombé il y a deux semaines, plus de souci depuis", "none"),
        ("ses jambes étaient faibles avant les séances, il a retrouvé de la force", "none"),
        ("il avait du mal à uriner dimanche mais ça s'est arrangé", "none"),
        ("j'avais des fourmis dans les pieds mardi, c'est parti", "none"),
        # ... a present danger after a resolved one stays urgent; "c'est parti tout seul" is incontinence
        ("Il avait du mal à uriner hier, mais depuis ce matin plus rien ne sort", "urgent"),
        ("il avait de la fièvre hier, ça va mieux mais il ne sent plus ses jambes", "urgent"),
        ("je n'ai pas senti l'envie d'aller à la selle hier, c'est parti tout seul", "urgent"),
        ("J'ai eu de la fièvre. Elle est revenue ce soir", "urgent"),
        ("il avait de la fièvre la semaine dernière, finalement elle est revenue", "urgent"),
        ("Il était tombé hier soir, on l'a retrouvé au bas des marches", "urgent"),
        ("Il saignait hier et ça ne cesse de couler", "urgent"),
        ("Il saignait hier et ça ne cesse pas", "urgent"),
        ("il a vomi du sang hier et ça ne s'est pas arrangé", "urgent"),
        # ... and a suicidal wish is never dropped as past
        ("j'avais envie d'en finir le mois dernier, ça va mieux", "urgent"),
        # a list of denied signs shares one negation; "des"/"du" report signs the patient has
        ("pas de fièvre, de vomissements ou de sang dans les urines", "none"),
        ("aucune fièvre, de faiblesse dans les jambes ni de fourmillements", "none"),
        ("pas de fièvre, des vomissements et du sang dans les urines", "urgent"),
        ("pas de fièvre, de temps en temps il crache du sang", "urgent"),
        ("il n'a pas de fièvre, de plus il saigne du nez beaucoup", "urgent"),
        ("Non pas du tout de saignement, le pansement est propre", "none"),
        ("pas une goutte de sang dans les selles", "none"),
        ("pas une goutte de pipi depuis hier soir", "urgent"),
        # everyday idioms and look-alikes
        ("la bourse s'effondre encore", "none"),
        ("les prix sont en chute libre", "none"),
        ("on est tombés d'accord pour le rendez-vous", "none"),
        ("une chaleur étouffante aujourd'hui, il va bien", "none"),
        ("ma voiture est à bout de souffle", "none"),
        ("dans le film, le personnage fait une overdose", "none"),
        ("il a peur de ne plus pouvoir marcher un jour", "none"),
        ("il ne peut plus marcher depuis ce matin", "urgent"),
        ("elle a la bouche sèche avec la morphine", "none"),
        # a reported instruction is not a sign
        ("l'infirmière a dit que s'il saignait il fallait appeler", "none"),
        # round-3 danger phrasings
        ("sa couche est sèche depuis ce matin", "urgent"),
        ("le pipi ne vient plus du tout", "urgent"),
        ("il s'endort au milieu d'une conversation", "urgent"),
        ("il fait des pauses quand il respire", "urgent"),
        ("il a du mal à garder les yeux ouverts", "urgent"),
        ("sa jambe gauche traîne depuis hier", "urgent"),
        ("je préférerais ne pas me réveiller demain", "urgent"),
        ("il est chaud et trempé de sueur, il est sous chimio", "urgent"),
    ],
)
def test_round_three_families(text: str, expected: str, vocabulary: FreeTextVocabulary) -> None:
    assert screen_severity(text, vocabulary)[0] == expected, explain_free_text(text, vocabulary)


def test_screen_severity_is_the_most_severe_category_and_lists_them_in_order(vocabulary: FreeTextVocabulary) -> None:
    assert screen_severity("j'ai soif tout le temps", vocabulary) == ("same_day", ("thirst",))
    assert screen_severity("j'ai soif et je suis tombé", vocabulary) == ("urgent", ("fall", "thirst"))
    assert screen_severity("bonne journée", vocabulary) == ("none", ())


def test_an_emoji_says_what_it_shows(vocabulary: FreeTextVocabulary) -> None:
    assert categories("🤮🤮 depuis ce matin, je garde rien", vocabulary) == ["vomiting_swallowing"]
    assert categories("🩸 dans les selles", vocabulary) == ["bleeding"]


@settings(max_examples=300, deadline=None)
@given(token=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=14))
def test_the_word_index_agrees_with_the_word_by_word_comparison(token: str) -> None:
    """The look-up tables and letter filters are only a fast path: each bit must be what `_word_matches` says."""
    from bot.domain.free_text_screen import _word_matches

    index = _VOCABULARY.index
    expected = sum(1 << n for n, spec in enumerate(index.words) if _word_matches(spec, token, index.fuzz))
    assert index.mask(token) == expected
    assert index.mask(token) == expected  # the cached answer too


def test_the_word_index_agrees_on_every_word_of_the_corpus() -> None:
    """The same check on real words (with their typos and swapped letters), where a wrong filter would show."""
    from bot.domain.free_text_screen import _word_matches

    fresh = load_free_text_vocabulary(DEFAULT_VOCABULARY_PATH)
    index = fresh.index
    words = {word for case in load_corpus() for clause in fresh.normaliser.clauses(case.text) for word in clause}
    swapped = {word[1] + word[0] + word[2:] for word in words if len(word) > 2}
    for token in sorted(words | swapped):
        expected = sum(1 << n for n, spec in enumerate(index.words) if _word_matches(spec, token, index.fuzz))
        assert index.mask(token) == expected, token


def test_a_warm_cache_and_a_fresh_vocabulary_give_the_same_answers() -> None:
    fresh = load_free_text_vocabulary(DEFAULT_VOCABULARY_PATH)
    for case in load_corpus():
        assert screen_free_text(case.text, fresh) == screen_free_text(case.text, _VOCABULARY)


# ---------------------------------------------------------------------------------------------------------------
# python -m bot screen (a real subprocess: what a site runs on its own messages)
# ---------------------------------------------------------------------------------------------------------------
def _bot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "screen", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )


def test_screen_command_prints_the_level_and_the_categories(tmp_path: Path) -> None:
    done = _bot("Mon mari ne sent plus ses jambes et il n'urine plus", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "severity: urgent"
    assert [line.split()[1] for line in lines[1:]] == ["numbness", "bladder_bowel", "urinary_retention"]
    calm = _bot("merci pour tout", cwd=tmp_path)
    assert calm.stdout.splitlines() == ["severity: none"]


def test_screen_command_round_trips_a_jsonl_file_in_order(tmp_path: Path) -> None:
    messages = [
        {"text": "j'ai vomi du sang", "id": 1},
        {"text": "merci, bonne soirée", "group": "x"},
        {"text": "je vomis tout ce que je mange"},
        {"text": "j'ai envie d'en finir"},
    ]
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in messages) + "\n", encoding="utf-8")
    done = _bot("--jsonl", str(source), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["text"] for row in rows] == [m["text"] for m in messages]
    assert [(row["severity"], row["categories"]) for row in rows] == [
        ("urgent", ["bleeding"]),
        ("none", []),
        ("same_day", ["vomiting_swallowing"]),
        ("urgent", ["suicidal"]),
    ]
    assert rows[0]["id"] == 1 and rows[1]["group"] == "x"


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (None, "Cannot read"),
        ('{"text": "ok"}\nnot json\n', "line 2 is not valid JSON"),
        ('{"texte": "ok"}\n', 'line 1 is not a JSON object with a string "text"'),
        ("[1, 2]\n", "line 1"),
    ],
)
def test_screen_command_refuses_bad_input_in_one_sentence(content: str | None, hint: str, tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    done = _bot("--jsonl", str(source), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2
    assert hint in done.stderr and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_screen_command_names_a_broken_vocabulary_file(tmp_path: Path) -> None:
    broken = tmp_path / "vocabulary.yaml"
    broken.write_text("categories: [unclosed\n", encoding="utf-8")
    done = _bot("--vocabulary", str(broken), "je suis tombé", cwd=tmp_path)
    assert done.returncode == 2 and str(broken) in done.stderr and "Traceback" not in done.stderr


def test_metrics_script_counts_levels_per_group(tmp_path: Path) -> None:
    rows = [
        {"text": "j'ai vomi du sang", "group": "bleeding", "expected": "urgent"},
        {"text": "je vomis tout", "group": "vomiting", "expected": "urgent"},  # same_day found: a miss for urgent
        {"text": "je vomis tout", "group": "vomiting", "expected": "same_day"},
        {"text": "merci", "group": "not_urgent", "expected": "not_urgent"},
        {"text": "je suis tombé", "group": "not_urgent", "expected": "not_urgent"},
    ]
    source, figures = tmp_path / "set.jsonl", tmp_path / "figures.json"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "screen_metrics.py"), str(source), "--json", str(figures)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(figures.read_text(encoding="utf-8"))
    assert data["groups"]["bleeding"] == {"caught": 1, "total": 1, "sensitivity": 1.0}
    assert data["groups"]["vomiting"] == {"caught": 1, "total": 2, "sensitivity": 0.5}
    assert data["urgent_sensitivity"] == {"caught": 1, "total": 2, "value": 0.5}
    assert data["specificity"] == {"correct": 1, "total": 2, "value": 0.5}


# ---------------------------------------------------------------------------------------------------------------
# Properties on arbitrary text
# ---------------------------------------------------------------------------------------------------------------
_ACCENTED = {"a": "àâä", "e": "éèêë", "i": "îï", "o": "ôö", "u": "ùûü", "c": "ç", "y": "ÿ"}
_CORPUS_WORDS = sorted({word for case in load_corpus() for word in case.text.split()})
_FRENCH_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 ',.!?-" + "".join(_ACCENTED.values()) + "œæ"


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@st.composite
def french_messages(draw: st.DrawFn) -> str:
    """Messages made of corpus words (so that red flags do occur) mixed with French letters and punctuation."""
    parts = draw(
        st.lists(
            st.one_of(st.sampled_from(_CORPUS_WORDS), st.text(alphabet=_FRENCH_ALPHABET, max_size=12)),
            max_size=14,
        )
    )
    return " ".join(parts)


@st.composite
def decorated(draw: st.DrawFn, text: str) -> str:
    """The same message with random accents added and random case: what a phone keyboard may produce."""
    out = []
    for char in text:
        if char in _ACCENTED and draw(st.booleans()):
            char = draw(st.sampled_from(_ACCENTED[char]))
        out.append(char.upper() if draw(st.booleans()) else char)
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400))
def test_the_screen_never_raises_on_arbitrary_text(text: str) -> None:
    vocabulary = _VOCABULARY
    flags = screen_free_text(text, vocabulary)
    assert isinstance(flags, tuple) and all(isinstance(flag, FreeTextFlag) for flag in flags)
    ids = [flag.category for flag in flags]
    assert len(ids) == len(set(ids))
    assert ids == [category for category in vocabulary.category_ids if category in ids]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), text=french_messages())
def test_the_screen_ignores_accents_and_case(data: st.DataObject, text: str) -> None:
    expected = screen_free_text(text, _VOCABULARY)
    assert screen_free_text(_strip_accents(text), _VOCABULARY) == expected
    assert screen_free_text(text.upper(), _VOCABULARY) == expected
    assert screen_free_text(data.draw(decorated(_strip_accents(text))), _VOCABULARY) == screen_free_text(
        _strip_accents(text), _VOCABULARY
    )


@settings(max_examples=200, deadline=None)
@given(data=st.data(), text=french_messages())
def test_letters_repeated_for_emphasis_change_nothing(data: st.DataObject, text: str) -> None:
    letters = [index for index, char in enumerate(text) if char.isalpha()]
    if not letters:
        return
    index = data.draw(st.sampled_from(letters))
    stretched = text[: index + 1] + text[index] * data.draw(st.integers(1, 4)) + text[index + 1 :]
    assert screen_free_text(stretched, _VOCABULARY) == screen_free_text(text, _VOCABULARY)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("jambes", "jambes", 0),
        ("jabmes", "jambes", 1),
        ("fivre", "fievre", 1),
        ("fayblesse", "faiblesse", 1),
        ("kitten", "sitting", 3),
        ("", "abc", 3),
    ],
)
def test_typo_distance_counts_a_swap_of_neighbours_as_one(a: str, b: str, distance: int) -> None:
    from bot.domain.free_text_screen import _typos

    assert _typos(a, b) == distance


@settings(max_examples=500, deadline=None)
@given(
    a=st.text(alphabet="aeilnrst", max_size=9), b=st.text(alphabet="aeilnrst", max_size=9), allowed=st.integers(0, 2)
)
def test_the_letter_count_pre_check_never_changes_a_typo_decision(a: str, b: str, allowed: int) -> None:
    """The fast path must be exact: it may only skip comparisons that would have failed anyway."""
    from bot.domain.free_text_screen import _typos, _within

    assert _within(a, b, allowed) == (_typos(a, b) <= allowed)


# ---------------------------------------------------------------------------------------------------------------
# The loader refuses a file that would not screen what it says
# ---------------------------------------------------------------------------------------------------------------
def _shipped() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_VOCABULARY_PATH.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "bad_vocabulary.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _broken(change: str) -> Any:
    data = _shipped()
    first = data["categories"][0]
    if change == "not yaml":
        return "categories: [unclosed\n"
    if change == "not a mapping":
        return "- just\n- a list\n"
    if change == "no source":
        del data["source"]
    elif change == "unknown key":
        data["categoires"] = []
    elif change == "bad severity":
        first["severity"] = "soon"
    elif change == "no patterns":
        first["patterns"] = []
    elif change == "unknown group":
        first["patterns"].append("@nope")
    elif change == "duplicate id":
        data["categories"].append(dict(first))
    elif change == "stop word pattern":
        first["patterns"].append("les")
    elif change == "rewritten word pattern":
        first["patterns"].append("bcp")
    elif change == "two words in a cue":
        data["negation"]["before"].append("pas du tout")
    elif change == "yaml boolean":
        data["normalisation"]["stopwords"].append(True)
    elif change == "empty label":
        first["label"] = ""
    return data


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        ("not yaml", "not valid YAML"),
        ("not a mapping", "top level must be a mapping"),
        ("no source", "source"),
        ("unknown key", "categoires"),
        ("bad severity", "severity"),
        ("no patterns", "patterns"),
        ("unknown group", "unknown word group @nope"),
        ("duplicate id", "defined twice"),
        ("stop word pattern", "no message word can match it"),
        ("rewritten word pattern", "no message word can match it"),
        ("two words in a cue", "exactly one word"),
        ("yaml boolean", "valid string"),
        ("empty label", "label"),
    ],
)
def test_the_loader_rejects_a_malformed_file(change: str, hint: str, tmp_path: Path) -> None:
    path = _write(tmp_path, _broken(change))
    with pytest.raises(FreeTextVocabularyError) as raised:
        load_free_text_vocabulary(path)
    assert str(path) in str(raised.value) and hint in str(raised.value)


def test_the_loader_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(FreeTextVocabularyError, match="cannot be read"):
        load_free_text_vocabulary(missing)


def test_an_unchanged_copy_of_the_shipped_file_loads(tmp_path: Path) -> None:
    copy = load_free_text_vocabulary(_write(tmp_path, _shipped()))
    assert copy.category_ids == _VOCABULARY.category_ids
    assert categories(ISSUE_PHRASE, copy) == ["numbness", "bladder_bowel", "urinary_retention"]


# ---------------------------------------------------------------------------------------------------------------
# Round 4 mechanisms (docs/clinical/free-text-screen.md, "Round 4"): each with the sign it must keep and the
# look-alike it must drop. Written for the mechanism, not copied from a measured set.
# ---------------------------------------------------------------------------------------------------------------
def _level(text: str) -> str:
    return screen_severity(text, _VOCABULARY)[0]


@pytest.mark.parametrize(
    ("token", "target", "typo"),
    [
        ("fievr", "fievre", True),  # a letter missing at the end
        ("ifevre", "fievre", True),  # the first two letters swapped
        ("pres", "opres", False),  # "près" is not "oppressé": the first letter differs
        ("tousse", "pousse", False),
    ],
)
def test_a_typo_never_changes_the_first_letter(token: str, target: str, typo: bool) -> None:
    from bot.domain.free_text_screen import _Word, _word_matches

    fuzz = _VOCABULARY.fuzz
    assert _word_matches(_Word(text=target, prefix=False), token, fuzz) is typo


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("il ne respire pas mal du tout", "none"),  # the negation sits between "respire" and "mal"
        ("elle ne tousse pas et ne crache rien", "none"),
        ("il respire mal depuis ce matin", "urgent"),
        ("je ne sens plus du tout mes jambes", "urgent"),  # the negation is the pattern's own word
        ("ça ne sert plus à rien de continuer à vivre", "urgent"),  # "plus rien" intensifies
        ("je n'ai plus envie de rien ni de vivre", "urgent"),  # "ni" continues the denied list
    ],
)
def test_a_negation_inside_a_match_negates_it_unless_it_is_the_signs_own(text: str, level: str) -> None:
    assert _level(text) == level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("à partir de quelle température faut-il s'inquiéter, 38 ou 38,5 ?", "none"),
        ("combien de degrés, la fièvre, pour appeler ?", "none"),
        ("il a 39 depuis ce matin, quel médicament je lui donne ?", "urgent"),  # the cue comes after the sign
        ("il a 39 depuis ce matin, quel médicament je lui donne", "urgent"),
    ],
)
def test_a_threshold_question_is_not_a_report(text: str, level: str) -> None:
    assert _level(text) == level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("La radiothérapie peut-elle donner des saignements ? C'est par curiosité.", "none"),
        ("La radiothérapie peut-elle donner des saignements ? Je me renseigne, j'en ai pas.", "none"),
        ("La radiothérapie peut-elle donner des saignements ? Il saigne du nez depuis hier.", "urgent"),
        ("La radiothérapie peut-elle donner des saignements ? Mon père en a depuis hier.", "urgent"),
    ],
)
def test_a_general_question_over_two_sentences_is_dropped_only_when_the_writer_says_they_only_ask(
    text: str, level: str
) -> None:
    assert _level(text) == level


def test_otherwise_all_is_well_does_not_resolve_the_sign_before_it() -> None:
    assert _level("Hier elle a eu du mal à se réveiller. Sinon tout va bien.") == "urgent"
    assert _level("Hier elle a eu du mal à se réveiller. Maintenant ça va mieux.") == "none"


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("il n'arrête pas de s'endormir en mangeant", "urgent"),  # "n'arrête pas de" = goes on
        ("jpeux plu uriner depui ce matin", "urgent"),
        ("il pe plu marcher", "urgent"),
        ("jai envie de me foutre en lair", "urgent"),
        ("il a 39° ce soir", "urgent"),
    ],
)
def test_round_4_spellings_and_elisions(text: str, level: str) -> None:
    assert _level(text) == level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("on a vu un film où le héros saigne beaucoup", "none"),
        ("je bois deux litres par jour, pas de fièvre", "none"),  # "litres" is not "livres"
        ("le chat a fait tomber un verre", "none"),
        ("je prends la température matin et soir", "none"),
        ("l'essoufflement qu'il avait est parti", "none"),  # "avait" as a filler
        ("j'étais essoufflé hier, maintenant je respire bien", "none"),
        ("elle étouffe de rire devant la télé", "none"),
        ("l'imprimante marche pas", "none"),
        ("les impôts vont me tuer", "none"),
    ],
)
def test_round_4_look_alikes_stay_quiet(text: str, level: str) -> None:
    assert _level(text) == level


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("il a chaud puis froid et il tremble", "fever"),
        ("je gerbe tout ce que je bois", "vomiting_swallowing"),
        ("tout ressort aussitôt, même les médicaments", "vomiting_swallowing"),
        ("elle se rendort aussitôt, on n'arrive pas à la garder éveillée", "opioid_toxicity"),
        ("il ne respire que 5 fois par minute", "opioid_toxicity"),
        ("il ne tient plus sur ses jambes", "leg_weakness"),
        ("je n'ai pas pu me retenir, je ne l'ai pas senti venir", "bladder_bowel"),
        ("elle n'arrive plus à se vider depuis hier", "urinary_retention"),
        ("il a mis ses cachets de côté", "suicidal"),
        ("il parle de se supprimer", "suicidal"),
        ("il est inanimé dans son fauteuil", "unconscious"),
        ("il a vomi tout rouge", "bleeding"),
        ("je n'arrive plus à remplir mes poumons", "chest_breathing"),
        ("la douleur est montée à 9 cette nuit", "unbearable_pain"),
    ],
)
def test_round_4_families_are_caught(text: str, category: str) -> None:
    assert category in categories(text, _VOCABULARY)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("elle ne saigne pas", "none"),  # "ne V pas": "pas" right after the verb
        ("il ne saigne pas du nez", "none"),
        ("il ne saigne pas, le pansement est sec", "none"),
        ("il saigne pas mal depuis ce matin", "urgent"),  # "pas mal": a lot
        ("ça m'oppresse, j'ai pas d'air", "urgent"),
        ("j'étouffe pas d'air", "urgent"),  # the word after "pas" is the category's own
    ],
)
def test_a_pas_right_after_the_verb_negates_it(text: str, level: str) -> None:
    assert _level(text) == level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("j'ai craché du sang il y a deux ans, c'était une bronchite", "none"),
        ("il est tombé l'année dernière", "none"),
        ("il est tombé il y a un mois et depuis il ne marche plus", "urgent"),  # "depuis": still today
        ("38,7 et des frissons, chimio il y a une semaine", "urgent"),  # the date is the chemotherapy's
        ("j'avais envie d'en finir il y a deux ans", "urgent"),  # suicidal ideation is never dropped as past
    ],
)
def test_a_sign_dated_long_ago_is_an_old_event(text: str, level: str) -> None:
    assert _level(text) == level


if __name__ == "__main__":
    metrics = corpus_metrics()
    print(metrics.summary())
    for text, found in metrics.false_positives:
        print(f"  false positive: {text!r} -> {found}")
    for text, expected, found in metrics.missed:
        print(f"  missed: {text!r}: expected {expected}, found {found}")
    sys.exit(0 if not metrics.missed else 1)


# ---------------------------------------------------------------------------------------------------------------
# Round 5: one test per mechanism, each with its look-alikes (phrasings written for the tests, not corpus lines)
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("token", "target", "typo"),
    [
        ("snag", "sang", True),  # two neighbours swapped in a 4-letter word
        ("sagn", "sang", True),
        ("sans", "sang", False),  # any other typo of a short word is too often a real word
        ("asng", "sang", False),  # never the first letter
        ("sang", "sang", True),
    ],
)
def test_a_short_word_tolerates_only_a_swap_of_neighbours(token: str, target: str, typo: bool) -> None:
    from bot.domain.free_text_screen import _Word, _word_matches

    assert _word_matches(_Word(text=target, prefix=False), token, _VOCABULARY.fuzz) is typo


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("il a craché du snag ce matin", "urgent"),  # the index files the swapped spellings too
        ("je n'arive pas à uirner depuis hier", "urgent"),  # a stem ("urin*") swapped
        ("il n'y a rien de grave", "none"),  # "rien" is not a swapped "rein"
        ("elle va perdre ses cheveux avec les rayons", "none"),  # "perdre" is a real word, not "pendre"
        ("il va se pendre", "urgent"),
    ],
)
def test_round_5_short_word_swaps_and_real_words(text: str, level: str) -> None:
    assert _level(text) == level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("le chien vomit depuis hier", "none"),  # the clause opens on another subject
        ("la vache ne tient plus debout", "none"),
        ("ma fille m'a retrouvée par terre", "urgent"),  # the writer is in the sentence
        (
            "mon fils a trouvé maman inconsciente",
            "urgent",
        ),  # so is a relative who may be the patient ("fils" is not "films")
        ("les enfants disent que papa ne se réveille plus", "urgent"),
        ("la voisine dit qu'il ne répond plus", "urgent"),  # the other subject reports
        ("le chat a envie d'en finir", "urgent"),  # never for suicidal ideation
        ("le chien ne mange plus et vomit, je l'emmène chez le vétérinaire", "none"),  # "je" only after the sign
        ("le voisin l'a retrouvé par terre, je suis arrivée après", "urgent"),  # "retrouvé": the other reports
    ],
)
def test_another_subject_opening_the_clause_is_not_the_patient(text: str, level: str) -> None:
    assert _level(text) == level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("j'ai trente-neuf de fièvre, chimio mardi", "urgent"),  # numbers in words
        ("mon mari a trente-neuf ans aujourd'hui", "none"),
        ("la douleur est à neuf depuis ce matin", "urgent"),
        ("il a neuf petits-enfants", "none"),
        ("je veux tout arrêter, je n'en peux plus", "urgent"),
        ("le saignement de la gencive s'arrête tout de suite", "urgent"),  # bleeding, but not "tout arrêter"
    ],
)
def test_round_5_numbers_in_words_and_idioms(text: str, level: str) -> None:
    assert _level(text) == level


def test_tout_de_suite_is_not_stopping_everything() -> None:
    assert "suicidal" not in categories("le saignement de la gencive s'arrête tout de suite", _VOCABULARY)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("il n'a plus fait de malaise depuis le mois dernier", "none"),  # "fait" between negation and sign
        ("il n'a plus fait pipi depuis hier soir", "urgent"),  # the negation is the pattern's own
        ("pas de souffle court ni de douleur", "none"),
        ("je n'ai plus de souffle", "urgent"),
        ("j'ai pas de problème pour faire pipi", "none"),
        ("maman pas faire pipi depuis hier", "urgent"),
        ("ils n'avaient plus rien à dire", "none"),  # "avaient" is not a typo of "avale"
    ],
)
def test_round_5_negation_look_alikes(text: str, level: str) -> None:
    assert _level(text) == level


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("il s'est vautré dans la cuisine", "fall"),
        ("j'ai mal, les comprimés ne servent à rien", "unbearable_pain"),
        ("elle vomit dès qu'elle boit une gorgée", "vomiting_swallowing"),
        ("elle ne garde ni les repas ni les médicaments", "vomiting_swallowing"),
        ("les selles sont comme du goudron", "bleeding"),
        ("il a eu un accident dans son pantalon sans s'en rendre compte", "bladder_bowel"),
        ("on dirait un éléphant sur mon thorax", "chest_breathing"),
        ("impossible de la réveiller ce matin", "unconscious"),
        ("il dit qu'il oublie de respirer en dormant", "opioid_toxicity"),
    ],
)
def test_round_5_families_are_caught(text: str, category: str) -> None:
    assert category in categories(text, _VOCABULARY)


@pytest.mark.parametrize(
    "text",
    [
        "Est-il possible que la morphine rende somnolent ? Je pose la question par avance.",
        "il avait eu des frissons dimanche mais c passé",
        "le malaise de l'été ne s'est pas reproduit depuis",
        "il est bien réveillé et bavard aujourd'hui",
    ],
)
def test_round_5_questions_and_resolutions_stay_quiet(text: str) -> None:
    assert _level(text) in ("none", "info")


# Round 6: one test per family, each with its look-alikes (phrasings written for the tests, not corpus lines).
@pytest.mark.parametrize(
    ("text", "category"),
    [
        # the reflexive "se tuer" / "se supprimer" is the patient's own act
        ("ma sœur m'a dit qu'elle allait se tuer", "suicidal"),
        ("je vais me tuer si ça continue", "suicidal"),
        ("il a parlé de se supprimer hier soir", "suicidal"),
        # euphemisms of dying, farewells, means sought, pills counted
        ("elle veut qu'on la laisse partir en paix maintenant", "suicidal"),
        ("il veut retrouver sa femme au ciel", "suicidal"),
        ("il a laissé un mot d'adieu sur la table", "suicidal"),
        ("mon père a sorti sa carabine du placard", "suicidal"),
        ("il est allé acheter une corde", "suicidal"),
        ("j'ai calculé que mes comprimés suffiraient", "suicidal"),
        ("je songe tout le temps à la mort", "suicidal"),
        # blood told by a colour or an image
        ("j'ai fait caca et c'était rouge", "bleeding"),
        ("elle a rendu du liquide marron", "bleeding"),
        ("il a vomi comme de la confiture de groseilles", "bleeding"),
        ("quand il tousse il crache rouge", "bleeding"),
        ("le nez pisse le sang", "bleeding"),
        # output and intake
        ("aucune urine depuis ce matin", "urinary_retention"),
        ("plus rien ne coule aux toilettes depuis midi", "urinary_retention"),
        ("tout remonte aussitôt que je mange", "vomiting_swallowing"),
        ("à peine avalé, à peine vomi", "vomiting_swallowing"),
        # limbs and sensation
        ("mes bras n'obéissent plus", "leg_weakness"),
        ("il n'a plus de jambes depuis hier", "leg_weakness"),
        ("je perds la sensibilité du pied droit", "numbness"),
        # "chercher son air", "ne réagit ni ... ni"
        ("il cherche son souffle depuis ce matin", "chest_breathing"),
        ("elle ne répond ni quand on lui parle ni quand on la secoue", "unconscious"),
    ],
)
def test_round_6_families_are_caught(text: str, category: str) -> None:
    assert category in categories(text, _VOCABULARY)


@pytest.mark.parametrize(
    "text",
    [
        # "prendre" is not a typo of "pendre", nor "pisse" of "prise"
        "mon fils va prendre le relais demain",
        # things that kill, fall or bleed without harm
        "les impôts vont me tuer",
        "l'IRM tombe le jour de mon anniversaire",
        "ma prise de sang tombe mardi",
        "une entrecôte bien saignante, il s'est régalé",
        "j'ai le sang qui bout devant la télé",
        "il donnait son sang tous les ans",
        # denials of ideation
        "aucune idée noire cette semaine",
        "le nez ne coule plus quand je vais aux toilettes",
        "je cherche l'air frais sur le balcon",
        "il ne répond ni au téléphone ni aux messages",
        "je ne pense pas à la mort, rassurez-vous",
    ],
)
def test_round_6_look_alikes_stay_quiet(text: str) -> None:
    assert _level(text) in ("none", "info")


def test_round_6_feeling_no_legs_stays_numbness_only() -> None:
    assert categories("je ne sens plus mes jambes", _VOCABULARY)[0] == "numbness"
    assert "leg_weakness" not in categories("je ne sens plus mes jambes", _VOCABULARY)


# Round 7: a question, and a denial in a sentence of its own (phrasings written for the tests, not corpus lines).
@pytest.mark.parametrize(
    "text",
    [
        "La radiothérapie peut-elle faire saigner du nez ? Je n'en ai pas, c'est ma cousine qui demande.",
        "Est-ce que les selles noires sont dues au fer ? C'est juste une question.",
        "Des frissons avec la chimio, c'est fréquent ? Je n'ai rien de tout ça.",
        "Peut-on tomber à cause des rayons ? Mon mari n'est pas concerné.",
    ],
)
def test_round_7_question_with_a_denial_stays_quiet(text: str) -> None:
    assert _level(text) in ("none", "info")


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # no denial: the sign asked about is the patient's
        ("J'ai de la fièvre à 39, c'est un effet de la chimio ?", "fever"),
        # "well otherwise" is not a denial of the sign
        ("Une fièvre à 38,5 pendant la chimio, c'est grave ? Pour l'instant elle va bien.", "fever"),
        ("Il crache du sang, c'est grave ? C'est juste pour savoir si j'appelle le 15.", "bleeding"),
        # the denial fills no clause of its own: "je n'ai rien pu avaler" is a sign, not a denial
        ("Il crache du sang, c'est grave ? Il n'a rien pu avaler depuis hier.", "bleeding"),
        # the denial is itself the question, and the sign is told as a fact
        ("Je saigne du nez depuis une heure sans arrêt. Je n'en ai pas parlé, je dois appeler ?", "bleeding"),
        # suicidal ideation stays flagged even asked about with a denial (the rule: in doubt, flag)
        ("Je pense à mettre fin à mes jours, c'est normal ? Je n'en ai pas parlé.", "suicidal"),
    ],
)
def test_round_7_denial_does_not_silence_a_report(text: str, category: str) -> None:
    assert category in categories(text, _VOCABULARY)


# Round 7: severe pain in words, in numbers, or as medicines that no longer work (phrasings written for the tests).
@pytest.mark.parametrize(
    "text",
    [
        "je la note à 9 depuis ce matin",
        "je l'estime à 10, je ne dors plus",
        "la douleur est remontée à 9 cette nuit",
        "les gélules ne la calment plus",
        "j'ai pris deux interdoses sans effet",
        "les interdoses ne tiennent pas une heure",
        "rien de ce qu'on lui donne ne le soulage",
        "ça ne se calme pas malgré la morphine",
        "il hurle dès qu'on le bouge dans le lit",
        "chaque geste la fait crier",
        "il gémit sans cesse depuis la nuit",
        "elle n'arrête pas de gémir",
        "la douleur ne baisse pas sous 9",
        "ça reste à 8 malgré tout ce qu'il prend",
        "le patch c'est comme de l'eau",
    ],
)
def test_round_7_severe_pain_is_caught(text: str) -> None:
    assert "unbearable_pain" in categories(text, _VOCABULARY)


@pytest.mark.parametrize(
    "text",
    [
        # a score that came down, with a past marker before it
        "Hier j'avais une douleur à 9, mais après l'interdose je suis à 2.",
        # a score that is not a pain score
        "je mets 10 minutes à m'habiller",
        # weary of something else
        "je n'en peux plus du bruit de la tondeuse",
        # a meaning of "calmer" or "effet" that is not pain
        "le médecin a changé le comprimé et depuis plus rien",
    ],
)
def test_round_7_pain_look_alikes_stay_quiet(text: str) -> None:
    assert "unbearable_pain" not in categories(text, _VOCABULARY)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("je n'ai pas de mal à avaler les comprimés", "vomiting_swallowing"),
        ("je suis un peu raide au réveil", "unconscious"),
        ("il est tombé sous le charme de sa voisine de chambre", "fall"),
        ("elle a le sang chaud", "bleeding"),
        ("mon sang n'a fait qu'un tour", "bleeding"),
        ("on a saigné le cochon chez mon oncle", "bleeding"),
        ("ce séjour à l'hôpital m'a saigné le portefeuille", "bleeding"),
        ("j'ai bien pris tous mes cachets ce matin", "suicidal"),
        ("je meurs de faim après la séance", "suicidal"),
        ("je voudrais en finir avec ces papiers de la CPAM", "suicidal"),
        ("vous pensez qu'on peut partir quelques jours à la mer ?", "suicidal"),
        ("je n'en peux plus de cette chaleur", "unbearable_pain"),
    ],
)
def test_round_7_look_alikes_stay_quiet(text: str, category: str) -> None:
    assert category not in categories(text, _VOCABULARY)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # the same words, and a sign
        ("je ne peux plus avaler, j'ai trop mal", "vomiting_swallowing"),
        ("il est devenu tout raide et ne répond plus", "unconscious"),
        ("il est tombé dans l'escalier", "fall"),
        ("il crache du sang", "bleeding"),
        ("j'ai pris tous mes cachets d'un coup", "suicidal"),
        ("je veux mourir", "suicidal"),
        ("je voudrais en finir avec la vie", "suicidal"),
        ("je pense à partir en paix", "suicidal"),
        ("je n'en peux plus de cette douleur", "unbearable_pain"),
    ],
)
def test_round_7_signs_next_to_look_alikes_stay_flagged(text: str, category: str) -> None:
    assert category in categories(text, _VOCABULARY)


@pytest.mark.parametrize(
    ("text", "quiet"),
    [
        # "si ... un jour ?": a future case
        ("Faut-il l'emmener aux urgences si elle a du mal à respirer un jour ?", True),
        ("Que faire si papa tombe à l'avenir ?", True),
        # "depuis un jour" is now; no "si": a report
        ("Je l'emmène si elle a du mal à respirer depuis un jour ?", False),
        ("Il a du mal à respirer depuis un jour, je fais quoi ?", False),
    ],
)
def test_round_7_someday_question(text: str, quiet: bool) -> None:
    assert (_level(text) in ("none", "info")) is quiet


def test_round_7_fingertip_tingling_is_not_numbness_but_legs_are() -> None:
    assert "numbness" not in categories("des picotements au bout des doigts depuis la chimio", _VOCABULARY)
    assert "numbness" in categories("des fourmis dans les jambes et le bout des doigts", _VOCABULARY)
    assert "numbness" in categories("je ne sens plus le bout de mes pieds", _VOCABULARY)


@pytest.mark.parametrize(
    ("text", "category", "flagged"),
    [
        ("elle vomit dès qu'elle boit une gorgée", "vomiting_swallowing", True),
        ("rien ne reste dans le ventre depuis hier", "vomiting_swallowing", True),
        ("ses douleurs ne sont pas contrôlées", "unbearable_pain", True),
        ("des élancements dans la hanche à hurler", "unbearable_pain", True),
        # a temperature or a blood count, not a pain score
        ("je suis à 37,8 ce soir", "unbearable_pain", False),
        ("ma prise de sang montre 9 d'hémoglobine", "unbearable_pain", False),
        ("j'ai saigné les radiateurs avant l'hiver", "bleeding", False),
        ("il a la fièvre du samedi soir", "fever", False),
        # "je n'ai rien eu" denies, in a message that asks
        ("Les crises d'épilepsie, ça arrive avec la morphine ? Je n'ai rien eu.", "unconscious", False),
    ],
)
def test_round_7_late_families(text: str, category: str, flagged: bool) -> None:
    assert (category in categories(text, _VOCABULARY)) is flagged


# Round 8: severe pain, urinary retention and unconsciousness told in other words, with their look-alikes (phrasings
# written for the tests, not corpus lines).
@pytest.mark.parametrize(
    ("text", "category", "flagged"),
    [
        # relief that fails: "n'y changent rien", "ne couvre plus rien" (not read as "plus rien" = resolved)
        ("les comprimés et le sirop n'y changent rien", "unbearable_pain", True),
        (
            "hier soir la douleur est montée à 9, on a changé le patch mais ça ne couvre plus rien",
            "unbearable_pain",
            True,
        ),
        ("l'interdose le soulage à peine", "unbearable_pain", True),
        ("les gouttes ne durent même pas une heure", "unbearable_pain", True),
        ("il la cote à 9 ce soir", "unbearable_pain", True),
        ("j'ai tellement mal au dos que j'en pleure", "unbearable_pain", True),
        ("c'est l'enfer dans la hanche depuis la nuit", "unbearable_pain", True),
        ("on a augmenté la morphine et il a toujours aussi mal", "unbearable_pain", True),
        ("au mieux 8/10 au minimum", "unbearable_pain", True),
        ("elle ne trouve aucune position pour dormir", "unbearable_pain", True),
        ("je ne peux plus m'allonger tant ça tire", "unbearable_pain", True),
        # look-alikes: a rescue dose that works, a calmer patient, "plus rien" after a change of treatment
        ("l'interdose la calme en une demi-heure", "unbearable_pain", False),
        ("il est un peu plus calme depuis le nouveau patch", "unbearable_pain", False),
        (
            "il voyait des choses avec l'ancien traitement, depuis qu'on a changé pour l'oxycodone plus rien",
            "confusion",
            False,
        ),
        # retention
        ("rien ne passe pour le pipi depuis midi", "urinary_retention", True),
        ("on dirait que mon robinet est bloqué depuis ce matin", "urinary_retention", True),
        ("le bas du ventre tendu comme un ballon", "urinary_retention", True),
        ("plus rien depuis midi alors qu'il a envie", "urinary_retention", True),
        ("je suis bloqué depuis la nuit pour uriner", "urinary_retention", True),
        ("elle n'a rien fait de la journée côté pipi", "urinary_retention", True),
        ("g pa fé pipi dp hier", "urinary_retention", True),
        # look-alikes
        ("le robinet de la cuisine fuit, le plombier vient lundi", "urinary_retention", False),
        ("il fait pipi normalement", "urinary_retention", False),
        # unconsciousness
        ("il est parti dans le cirage au repas", "unconscious", True),
        ("on n'arrive pas à la faire réagir", "unconscious", True),
        ("il a mis plusieurs minutes à reprendre connaissance", "unconscious", True),
        ("elle s'est affaissée dans son fauteuil", "unconscious", True),
        ("mon père a eu une absence à table", "unconscious", True),
        # look-alikes
        ("le médecin ne répond pas au téléphone", "unconscious", False),
        ("il est un peu raide le matin", "unconscious", False),
    ],
)
def test_round_8_pain_retention_unconscious(text: str, category: str, flagged: bool) -> None:
    assert (category in categories(text, _VOCABULARY)) is flagged


@pytest.mark.parametrize(
    ("text", "category", "flagged"),
    [
        ("il est brûlant depuis la chimio de jeudi", "fever", True),
        ("des suées et des tremblements cette nuit", "fever", True),
        ("je suis à 38 pile ce soir", "fever", True),
        ("39 de fièvre, sa chimio c'était il y a dix jours", "fever", True),
        ("le café est brûlant", "fever", False),
        ("un point dans la poitrine depuis une heure", "chest_breathing", True),
        ("il s'endort assis dans son fauteuil en pleine conversation", "opioid_toxicity", True),
        ("elle a rendu comme du café", "bleeding", True),
        ("il ne garde aucun liquide", "vomiting_swallowing", True),
        ("ses jambes ont cédé dans l'escalier", "leg_weakness", True),
        ("il a caché son pistolet dans le garage", "suicidal", True),
        ("il parle de tirer sa révérence", "suicidal", True),
        ("j'ai assez de cachets, ça suffirait pour partir", "suicidal", True),
        ("j'ai tout préparé pour que ce soit ma dernière nuit", "suicidal", True),
    ],
)
def test_round_8_other_families(text: str, category: str, flagged: bool) -> None:
    assert (category in categories(text, _VOCABULARY)) is flagged


def test_round_8_old_event_dated_after_a_treatment_is_not_silenced() -> None:
    """A date within three words after a treatment dates the treatment: the fever is now."""
    assert "fever" in categories("Il a 38,5 de fièvre, sa chimio c'était il y a une semaine", _VOCABULARY)
    # ... but a sign dated months ago on its own is still an old event
    assert "fever" not in categories("Il y a six mois il avait eu de la fièvre", _VOCABULARY)


@pytest.mark.parametrize(
    ("text", "category", "flagged"),
    [
        ("il a mis de longues minutes à revenir à lui", "unconscious", True),
        ("elle fait tout noir depuis hier", "bleeding", True),
        ("aux toilettes ce matin c'était tout noir", "bleeding", True),
        ("il halète depuis une heure", "chest_breathing", True),
        ("elle n'arrive plus à prendre son souffle", "chest_breathing", True),
        ("il respire trop vite même assis", "chest_breathing", True),
        ("elle est glacée et brûlante en même temps", "fever", True),
        ("il est comme une braise depuis midi", "fever", True),
        ("il me confond avec ma soeur depuis hier", "confusion", True),
        ("elle essaie d'attraper des choses dans le vide", "confusion", True),
        ("je vais rejoindre Paul plus tôt que prévu", "suicidal", True),
        # look-alikes
        ("les toilettes sont propres", "bleeding", False),
        ("il a pris l'air sur la terrasse", "chest_breathing", False),
        ("il confond toujours les prénoms des acteurs", "confusion", False),
    ],
)
def test_round_8_late_families(text: str, category: str, flagged: bool) -> None:
    assert (category in categories(text, _VOCABULARY)) is flagged


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        # a room or garden thermometer is the weather
        ("le thermomètre de la terrasse marque 40 aujourd'hui", False),
        ("il fait 39 à l'ombre dans le jardin", False),
        # the patient's thermometer, or a fever told next to the weather, stays a fever
        ("mon thermomètre affiche 39", True),
        ("le thermomètre de la chambre affiche 39, et mon mari a 39 de fièvre", True),
    ],
)
def test_round_8_room_thermometer_is_not_a_fever(text: str, flagged: bool) -> None:
    assert ("fever" in categories(text, _VOCABULARY)) is flagged
