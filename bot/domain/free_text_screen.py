"""Red flags in a patient's own words: a French free-text screen, pure and driven by data.

Why it exists (issue 14): a patient who writes "Je ne sens plus mes jambes depuis ce matin et je n'arrive plus a
uriner" outside a questionnaire must raise an urgent alert and be told to call now, exactly as if they had answered
"Oui" to the red-flag questions. Messages come from a phone, often late and tired: no accents, typos, SMS spellings,
negations ("pas de fièvre"), and sentences where the negation IS the red flag ("je ne sens plus mes jambes").

What is data and what is code: the vocabulary (categories, their French labels for the clinicians, severities,
sources, patterns, word groups, negation cues, SMS rewrites) lives in `questionnaires/free_text_red_flags.yaml`,
whose header documents the pattern language. This module only normalises text and applies that data. It is built
for sensitivity: in doubt, it flags (a flagged message is an alert with the patient's words; an unflagged one is
still forwarded to the team, only less loudly). Its measured sensitivity and specificity on the phrasing corpus
(`tests/free_text_corpus.yaml`) come from `corpus_metrics()` in `tests/test_free_text_screen.py`.

How a message is read:
1. fold: lower case, accents removed, ligatures opened, decimal separators split ("38,5" -> "38 5");
2. cut into clauses at punctuation and at the vocabulary's clause-break words ("mais");
3. words: letters repeated for emphasis collapsed, SMS spellings rewritten, stop words dropped;
4. each category's patterns are searched in each clause (words in order, a few other words allowed between them,
   one typo tolerated in words of 5 letters or more); a match is dropped when a negation cue stands just before or
   just after it, or when one of the category's exclusions overlaps it.
The same steps 1 and 3 are applied to the words of the vocabulary when it is loaded, so the file is written in
plain French and the two can never disagree about accents or doubled letters.

Pure: reading the YAML file is the only I/O, in `load_free_text_vocabulary`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.domain.yaml_io import load_yaml

__all__ = [
    "DEFAULT_VOCABULARY_PATH",
    "FreeTextFlag",
    "FreeTextVocabulary",
    "FreeTextVocabularyError",
    "SecondOpinion",
    "explain_free_text",
    "fold_text",
    "load_free_text_vocabulary",
    "screen_free_text",
    "screen_severity",
]

DEFAULT_VOCABULARY_PATH: Final[Path] = (
    Path(__file__).resolve().parents[2] / "questionnaires" / "free_text_red_flags.yaml"
)
"""The vocabulary shipped with the project."""

Severity = Literal["urgent", "same_day"]

_STRICT = ConfigDict(extra="forbid", frozen=True)
_NAME_PATTERN: Final[str] = r"^[a-z][a-z0-9_]*$"
_DECIMAL: Final[re.Pattern[str]] = re.compile(r"(\d)[.,](\d)")
_WORD: Final[re.Pattern[str]] = re.compile(r"[a-z0-9]+")
_REPEATED_LETTER: Final[re.Pattern[str]] = re.compile(r"([a-z])\1+")
_LIGATURES: Final[dict[str, str]] = {"œ": "oe", "æ": "ae"}
_MAX_TEXT_CHARS: Final[int] = 20_000
"""Longer input is screened on its first 20,000 characters (a Telegram message holds 4,096): a bound on work."""


class FreeTextVocabularyError(ValueError):
    """The vocabulary file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class FreeTextFlag:
    """One red-flag category found in a message."""

    category: str
    """Stable id from the vocabulary, e.g. "leg_weakness" (stored, exported)."""
    label: str
    """Short French label for the clinicians' alert, e.g. "Faiblesse des jambes ou des bras, marche difficile"."""
    severity: str
    """"urgent" | "same_day"."""


# ---------------------------------------------------------------------------------------------------------------
# The file, as pydantic models (validation only; compiled below)
# ---------------------------------------------------------------------------------------------------------------
class _PatternModel(BaseModel):
    """A pattern with its own gap: {words: "...", max_gap: N}."""

    model_config = _STRICT
    words: str = Field(min_length=1)
    max_gap: int | None = Field(default=None, ge=0, le=10)
    whole: bool = False
    """True: the pattern must be the whole message (one sentence, one clause, every meaningful word): "urgence"
    alone is a cry for help, "ce n'est pas urgent" is not. For a `resolved` cue: the cue must be its whole clause
    ("c'est parti" alone says the sign is gone; "c'est parti tout seul" says the stool came unfelt)."""


_PatternItem = str | _PatternModel


class _CategoryModel(BaseModel):
    model_config = _STRICT
    id: str = Field(pattern=_NAME_PATTERN, max_length=40)
    label: str = Field(min_length=1, max_length=120)
    severity: Severity
    source: str = Field(min_length=1)
    patterns: list[_PatternItem] = Field(min_length=1)
    exclude: list[_PatternItem] = Field(default_factory=list)
    hypothetical: bool = True
    """False: a hypothetical does not cancel this category ("si ça continue je vais tout avaler" is ideation)."""
    resolved: bool = True
    """False: a resolved past event does not cancel this category."""


class _ContextModel(BaseModel):
    """Clear hypotheticals and resolved past events (see the vocabulary file's header)."""

    model_config = _STRICT
    hypothetical: list[_PatternItem] = Field(default_factory=list)
    question_openers: list[str] = Field(default_factory=list)
    opener_leads: list[str] = Field(default_factory=list)
    """Words that may stand before a question opener ("et si la fièvre monte, je fais quoi ?")."""
    present: list[str] = Field(default_factory=list)
    """Words that make a clause opened by a question opener real, not hypothetical ("si je ne sens plus mes jambes
    depuis ce matin ?")."""
    not_resolved_after: list[str] = Field(default_factory=list)
    """A resolved cue right after one of these words ("sinon tout va bien") speaks of everything else."""
    general_questions: list[_PatternItem] = Field(default_factory=list)
    question_cues: list[_PatternItem] = Field(default_factory=list)
    """In a sentence ending with "?", a cue before the sign anywhere in the sentence makes it a question about a
    threshold or a rule, not a report ("quelle température doit m'alerter ?", "il faut appeler à combien, 38 ?")."""
    asking: list[_PatternItem] = Field(default_factory=list)
    """Words saying the writer only asks ("par curiosité", "je me renseigne", "pour savoir"): anywhere in the
    message, they let `general_questions` apply to a question told over several sentences."""
    someday: list[_PatternItem] = Field(default_factory=list)
    """Round 7: in a sentence ending with "?", a clause with a `question_openers` word ("si") before the sign and
    one of these cues anywhere ("un jour", "à l'avenir"), and no `present` word ("depuis"), asks about a future case: "peut-on retirer le patch si
    elle devenait trop endormie un jour ?". "Que faire s'il saigne du nez ?" (no cue) is left to the other rules."""
    not_had: list[_PatternItem] = Field(default_factory=list)
    """Round 7: a sentence that is not a question in which the writer says they have nothing ("je n'en ai pas",
    "pour l'instant il va bien", "c'est juste une question"): every sign asked about in a question sentence of the
    same message is a question, not a report. A cue marked `whole` must fill its clause ("je n'ai rien", not "je
    n'ai rien pu avaler")."""
    resolved: list[_PatternItem] = Field(default_factory=list)
    long_ago: list[_PatternItem] = Field(default_factory=list)
    """Round 4: a sign dated weeks, months or years ago ("il y a deux ans", "l'année dernière") in a sentence
    with no `present` word is an old event, not today's."""
    long_ago_not_after: list[str] = Field(default_factory=list)
    """A `long_ago` cue right after one of these words dates a treatment, not the sign ("chimio il y a une
    semaine": the fever is today's)."""
    past: list[str] = Field(default_factory=list)
    not_past_after: list[str] = Field(default_factory=list)
    others: list[str] = Field(default_factory=list)
    """Round 5: a clause whose first meaningful word is one of these (a child, an animal, a machine, a team) tells
    of someone or something else than the patient ("le veau n'arrivait pas à se mettre debout")..."""
    patient_words: list[str] = Field(default_factory=list)
    """... unless the sentence holds one of these words, read before the small words are dropped: the writer
    ("je", "m'", "moi") or a relative who may be the patient ("ma fille m'a trouvé par terre", "mon fils dit que papa
    ne respire plus")."""
    reporting: list[str] = Field(default_factory=list)
    """... or the clause holds one of these words: the other subject reports or finds the patient ("les enfants
    disent qu'il ne répond plus")."""


class _NormalisationModel(BaseModel):
    model_config = _STRICT
    clause_breaks: list[str] = Field(default_factory=list)
    rewrites: dict[str, str] = Field(default_factory=dict)
    stopwords: list[str] = Field(default_factory=list)
    symbols: dict[str, str] = Field(default_factory=dict)


class _NegationModel(BaseModel):
    model_config = _STRICT
    before: list[str] = Field(min_length=1)
    before_fillers: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)
    after_fillers: list[str] = Field(default_factory=list)
    max_fillers: int = Field(ge=0, le=5)
    after_verb: list[str] = Field(default_factory=list)
    """Round 4: "ne V pas": a cue right after the match (no filler) negates it, unless the next word is one of the
    category's own words ("ça m'oppresse, pas d'air") or an intensifier in `after_verb_keep` ("saigne pas mal")."""
    after_verb_keep: list[str] = Field(default_factory=list)


class _MatchingModel(BaseModel):
    model_config = _STRICT
    max_gap: int = Field(ge=0, le=10)
    exclude_max_gap: int = Field(ge=0, le=10)
    fuzzy_min_length: int = Field(ge=3, le=20)
    fuzzy_long_length: int = Field(ge=3, le=40)
    real_words: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _long_after_min(self) -> _MatchingModel:
        if self.fuzzy_long_length < self.fuzzy_min_length:
            raise ValueError("fuzzy_long_length must be at least fuzzy_min_length")
        return self


class _VocabularyModel(BaseModel):
    model_config = _STRICT
    version: int = Field(ge=1)
    language: Literal["fr"]
    source: str = Field(min_length=1)
    normalisation: _NormalisationModel
    negation: _NegationModel
    matching: _MatchingModel
    lexicon: dict[str, list[str]] = Field(default_factory=dict)
    context: _ContextModel = Field(default_factory=_ContextModel)
    categories: list[_CategoryModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids_and_names(self) -> _VocabularyModel:
        seen: set[str] = set()
        for category in self.categories:
            if category.id in seen:
                raise ValueError(f'category id "{category.id}" is defined twice')
            seen.add(category.id)
        for name, words in self.lexicon.items():
            if not re.match(_NAME_PATTERN, name):
                raise ValueError(f'word group name "{name}" must be lower-case letters, digits and _')
            if not words:
                raise ValueError(f'word group "{name}" is empty')
        return self


# ---------------------------------------------------------------------------------------------------------------
# Text normalisation
# ---------------------------------------------------------------------------------------------------------------
def fold_text(text: str) -> str:
    """Lower case, no accents, ligatures opened, decimal separators split: the form every comparison uses.

    `casefold` before decomposition so that "É" and "é" fold alike; NFKD then splits a letter from its accent and
    the accent (a combining mark) is dropped. Characters outside Latin letters and digits are left for the word
    splitter to treat as separators.
    """
    folded = text.casefold()
    for ligature, opened in _LIGATURES.items():
        folded = folded.replace(ligature, opened)
    folded = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    return _DECIMAL.sub(r"\1 \2", folded)


def _raw_words(folded: str) -> list[str]:
    """Words of already-folded text, letters repeated for emphasis collapsed ("jambesss" -> "jambes")."""
    return [_REPEATED_LETTER.sub(r"\1", word) for word in _WORD.findall(folded)]


def _words_of(text: str) -> list[str]:
    return _raw_words(fold_text(text))


_SENTENCE: Final[re.Pattern[str]] = re.compile(r"[^.!?\n\r\u2026]+[.!?\n\r\u2026]*")
_CLAUSE_MARKS: Final[re.Pattern[str]] = re.compile(r"[;,]+")


_LIST_NEGATIONS: Final[frozenset[str]] = frozenset({"aucun", "aucune", "sans", "ni"})
_LIST_LINKS: Final[frozenset[str]] = frozenset({"ou", "ni"})
_NOT_A_LIST_DE: Final[frozenset[str]] = frozenset({"la", "l", "plus", "nouveau", "temps", "suite", "meme"})


def _opens_list_item(words: Sequence[str], index: int) -> bool:
    """Is words[index] a bare "de" opening an item of a negated list ("de vomissements", not "de la toux")?"""
    return words[index] == "de" and index + 1 < len(words) and words[index + 1] not in _NOT_A_LIST_DE


def _carry_negation(parts: list[list[str]]) -> list[list[str]]:
    """A list of denied signs shares one negation: "pas de fièvre, de vomissements ou de sang" denies all three.

    Why: French negates a list once ("pas de X, de Y ni de Z") and keeps the bare "de" on every item, while a list
    of signs the patient HAS uses "de la", "du", "des" ("pas de fièvre, des vomissements" reports vomiting). So,
    in a part (between commas) that holds a negation ("pas de", "aucun", "sans", "ni") and in the parts that
    follow it opening with a bare "de", a bare "de" after "ou"/"ni" or at a part's start becomes "ni", which the
    negation rule reads as a cue for the sign right after it only. Raw words, before stop words are dropped."""
    result: list[list[str]] = []
    negated = False
    for words in parts:
        if "de" not in words:  # most parts: nothing to carry, and nothing to carry on to the next part
            negated = not _LIST_NEGATIONS.isdisjoint(words)
            result.append(words)
            continue
        negated = (
            (negated and _opens_list_item(words, 0))
            or not _LIST_NEGATIONS.isdisjoint(words)
            or any(word == "pas" and words[index + 1] == "de" for index, word in enumerate(words[:-1]))
        )
        if not negated:
            result.append(words)
            continue
        out = list(words)
        for index in range(len(out)):
            if _opens_list_item(out, index) and (index == 0 or out[index - 1] in _LIST_LINKS):
                out[index] = "ni"
        result.append(out)
    return result


@dataclass(frozen=True)
class _Sentence:
    """One sentence of a message: its clauses of meaningful words, and whether it ends with a question mark."""

    clauses: tuple[tuple[str, ...], ...]
    question: bool
    patient: tuple[bool, ...] = ()
    """Round 5, per clause: does the sentence, up to and including this clause, name the writer or a relative who
    may be the patient (`context.patient_words`)? Empty: assume it does."""


@dataclass(frozen=True)
class _Normaliser:
    """Steps 2 and 3: sentences, clauses, rewrites, stop words."""

    rewrites: Mapping[tuple[str, ...], tuple[str, ...]]
    rewrite_lengths: tuple[int, ...]  # longest first
    clause_breaks: frozenset[str]
    stopwords: frozenset[str]
    symbols: Mapping[str, str]
    patient_words: frozenset[str] = frozenset()

    def clauses(self, text: str) -> list[tuple[str, ...]]:
        """The message as clauses of meaningful words."""
        return [clause for sentence in self.sentences(text) for clause in sentence.clauses]

    def sentences(self, text: str) -> list[_Sentence]:
        """The message as sentences (cut at . ! ? … and new lines), each cut into clauses (at , ; and the
        clause-break words). A sentence is a question when its end holds a "?": the context rules read it."""
        result: list[_Sentence] = []
        text = text[:_MAX_TEXT_CHARS]
        for symbol, words in self.symbols.items():
            if symbol in text:
                text = text.replace(symbol, f" {words} ")
        for found in _SENTENCE.finditer(fold_text(text)):
            piece = found.group()
            clauses: list[tuple[str, ...]] = []
            patient = False
            patients: list[bool] = []
            for part in _carry_negation([_raw_words(part) for part in _CLAUSE_MARKS.split(piece)]):
                clause: list[str] = []
                for word in self._rewrite(part):
                    if word in self.patient_words:
                        patient = True
                    if word in self.clause_breaks:
                        if clause:
                            clauses.append(tuple(clause))
                            patients.append(patient)
                        clause = []
                    elif word not in self.stopwords:
                        clause.append(word)
                if clause:
                    clauses.append(tuple(clause))
                    patients.append(patient)
            if clauses:
                result.append(_Sentence(clauses=tuple(clauses), question="?" in piece, patient=tuple(patients)))
        return result

    def _rewrite(self, words: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(words):
            for length in self.rewrite_lengths:
                replacement = self.rewrites.get(tuple(words[i : i + length]))
                if replacement is not None:
                    out.extend(replacement)
                    i += length
                    break
            else:
                out.append(words[i])
                i += 1
        return out


# ---------------------------------------------------------------------------------------------------------------
# Compiled patterns and matching
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Word:
    """One word of a pattern: exact, or a stem (`prefix`) when written with a trailing `*`."""

    text: str
    prefix: bool


@dataclass(frozen=True)
class _Fuzz:
    """Typo tolerance: one typo from `min_length` letters, two from `long_length`; never for `real_words`."""

    min_length: int
    long_length: int
    real_words: frozenset[str]


@lru_cache(maxsize=32_768)
def _typos(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


@lru_cache(maxsize=32_768)
def _letters(word: str) -> Counter[str]:
    return Counter(word)


def _within(token: str, target: str, allowed: int) -> bool:
    """`_typos(token, target) <= allowed`, with a cheap exact pre-check first: each typo changes at most one letter
    of the multiset, so two words sharing fewer than max(length) - allowed letters cannot be that close."""
    shared = sum((_letters(token) & _letters(target)).values())
    if max(len(token), len(target)) - shared > allowed:
        return False
    return _typos(token, target) <= allowed


def _word_matches(spec: _Word, token: str, fuzz: _Fuzz) -> bool:
    """Does a message word match a pattern word, allowing for a typo?"""
    if token == spec.text or (spec.prefix and token.startswith(spec.text)):
        return True
    size = len(spec.text)
    if token in fuzz.real_words or any(c.isdigit() for c in spec.text + token):
        return False
    if size < fuzz.min_length:
        return size >= _SWAP_MIN_LENGTH and _one_swap(token[:size] if spec.prefix else token, spec.text)
    if not _same_start(token, spec.text):
        return False
    allowed = 2 if size >= fuzz.long_length else 1
    if not spec.prefix:
        return abs(len(token) - size) <= allowed and _within(token, spec.text, allowed)
    if len(token) < size - allowed:
        return False
    # A stem: compare it with the beginnings of the word around its own length ("fourmilement" for "fourmill*").
    return any(
        _within(token[:cut], spec.text, allowed)
        for cut in range(size - allowed, size + allowed + 1)
        if 0 < cut <= len(token)
    )


_SWAP_MIN_LENGTH: Final = 4


def _one_swap(token: str, text: str) -> bool:
    """Round 5: a short word (4 letters, below `fuzzy_min_length`) may only have two neighbouring letters swapped,
    never the first one: "snag" is "sang", "uirner" is "urin*". Any other typo of a short word is a real word too
    often ("sang" ~ "sans", "sent")."""
    if len(token) != len(text) or token[0] != text[0] or token == text:
        return False
    diff = [i for i in range(len(text)) if token[i] != text[i]]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and token[diff[0]] == text[diff[1]]
        and token[diff[1]] == text[diff[0]]
    )


def _same_start(token: str, text: str) -> bool:
    """May `token` be a typo of `text`? Only if it starts with the same letter, or with the first two letters
    swapped. Why (round 4): a phone typo almost never hits the first letter, while a real word one letter away
    from a pattern word's start is common ("près" ~ "oppress*", "tousse" ~ "pousse*"): those were false alarms."""
    return token[0] == text[0] or (len(token) > 1 and len(text) > 1 and token[0] == text[1] and token[1] == text[0])


@lru_cache(maxsize=65_536)
def _letter_bits(word: str) -> int:
    """The set of letters of a word as bits (a = 1, b = 2, ...; digits ignored)."""
    bits = 0
    for char in word:
        if "a" <= char <= "z":
            bits |= 1 << (ord(char) - 97)
    return bits


_FuzzyEntry = tuple[str, bool, int, int, int, int]
"""A pattern word ready for typo comparison: (text, is a stem, length, typos allowed, its letters as bits, its bit)."""

_TOKEN_CACHE_LIMIT: Final[int] = 100_000
"""Distinct message words remembered with their match mask (most masks are 0; about 10 MB at most); the cache
restarts when full."""


class _WordIndex:
    """Every distinct word of the vocabulary's patterns, numbered: a message word is compared with them once and
    remembered as a bit mask (bit n set when it matches word n, typos included). Matching a pattern is then a
    few integer ANDs per message word instead of one typo-tolerant comparison per pattern word: this is what keeps
    a message well under a millisecond with several hundred pattern words."""

    def __init__(self, fuzz: _Fuzz) -> None:
        self.fuzz = fuzz
        self.words: list[_Word] = []
        self._bits: dict[_Word, int] = {}
        self._cache: dict[str, int] = {}
        self._exact: dict[str, int] = {}
        self._stems: dict[str, int] = {}
        self._by_letter: dict[str, tuple[_FuzzyEntry, ...]] = {}
        self._always: tuple[_FuzzyEntry, ...] = ()
        self._swapped: dict[str, int] = {}
        self._swapped_stems: dict[str, int] = {}

    def bit(self, word: _Word) -> int:
        """The word's bit, numbering it on first sight (at compile time only)."""
        number = self._bits.get(word)
        if number is None:
            number = self._bits[word] = len(self.words)
            self.words.append(word)
        return 1 << number

    def mask(self, token: str) -> int:
        found = self._cache.get(token)
        if found is None:
            found = self._compute(token)
            if len(self._cache) >= _TOKEN_CACHE_LIMIT:
                self._cache.clear()
            self._cache[token] = found
        return found

    def freeze(self) -> None:
        """Build the lookup tables once every pattern word is numbered (end of compilation).

        Typo candidates are filed under their first two letters: one typo (insertion, deletion, substitution, or a
        swap of neighbours) always leaves the word's first or second letter equal to the pattern word's first or
        second letter, so a new word is compared only with the pattern words filed under its own first two letters
        (and with the long pattern words allowed two typos, which are few)."""
        exact: dict[str, int] = {}
        stems: dict[str, int] = {}
        by_letter: dict[str, list[_FuzzyEntry]] = {}
        always: list[_FuzzyEntry] = []
        swapped: dict[str, int] = {}
        swapped_stems: dict[str, int] = {}
        for number, spec in enumerate(self.words):
            bit = 1 << number
            table = stems if spec.prefix else exact
            table[spec.text] = table.get(spec.text, 0) | bit
            size = len(spec.text)
            if _SWAP_MIN_LENGTH <= size < self.fuzz.min_length and not any(c.isdigit() for c in spec.text):
                # Round 5: short words, a swap of two neighbouring letters only (`_one_swap`), filed by spelling
                target = swapped_stems if spec.prefix else swapped
                text = spec.text
                for i in range(1, size - 1):
                    if text[i] != text[i + 1]:
                        variant = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
                        target[variant] = target.get(variant, 0) | bit
            if size >= self.fuzz.min_length and not any(c.isdigit() for c in spec.text):
                allowed = 2 if size >= self.fuzz.long_length else 1
                entry = (spec.text, spec.prefix, size, allowed, _letter_bits(spec.text), bit)
                if allowed == 1:
                    for letter in {spec.text[0], spec.text[1]}:
                        by_letter.setdefault(letter, []).append(entry)
                else:
                    always.append(entry)
        self._exact, self._stems = exact, stems
        self._by_letter = {letter: tuple(entries) for letter, entries in by_letter.items()}
        self._always = tuple(always)
        self._swapped, self._swapped_stems = swapped, swapped_stems
        self._cache.clear()

    def _compute(self, token: str) -> int:
        """The mask of a word not seen before: exact words and stems by table look-up, then the typo-tolerant
        comparison only for the candidates of its first two letters, of a compatible length, sharing enough letters
        (one typo changes at most two letters of the set of letters)."""
        found = self._exact.get(token, 0)
        stems = self._stems
        for cut in range(1, len(token) + 1):
            found |= stems.get(token[:cut], 0)
        if token in self.fuzz.real_words or any(c.isdigit() for c in token) or len(token) < 2:
            return found
        found |= self._swapped.get(token, 0)
        if self._swapped_stems:
            for cut in range(_SWAP_MIN_LENGTH, min(len(token), self.fuzz.min_length - 1) + 1):
                found |= self._swapped_stems.get(token[:cut], 0)
        length = len(token)
        letters = _letter_bits(token)
        tried = found
        groups = (self._by_letter.get(token[0], ()), self._by_letter.get(token[1], ()), self._always)
        for group in groups:
            for text, prefix, size, allowed, spec_letters, bit in group:
                if tried & bit:
                    continue
                tried |= bit
                if not _same_start(token, text):
                    continue
                if not prefix:
                    if (
                        abs(length - size) <= allowed
                        and (spec_letters ^ letters).bit_count() <= 2 * allowed
                        and _typos(token, text) <= allowed
                    ):
                        found |= bit
                    continue
                if size - allowed > length or (spec_letters & ~letters).bit_count() > allowed:
                    continue
                for cut in range(size - allowed, min(size + allowed, length) + 1):
                    head = token[:cut]
                    if (spec_letters ^ _letter_bits(head)).bit_count() <= 2 * allowed and _typos(head, text) <= allowed:
                        found |= bit
                        break
        return found

    def masks(self, clause: Sequence[str]) -> tuple[int, ...]:
        return tuple(self.mask(token) for token in clause)


@dataclass(frozen=True)
class _Pattern:
    source: str
    """The pattern as written in the file (kept for error messages and for explaining a match)."""
    positions: tuple[int, ...]
    """One bit mask per position: the pattern words any of which may stand there."""
    max_gap: int
    whole: bool = False
    """The match must cover the whole message (see `_PatternModel.whole`)."""
    union: int = 0
    """Every position's words together: a word in a match's gap that is none of them is a gap word."""

    def possible(self, union: int) -> bool:
        """Can the pattern match a clause whose words' masks OR to `union`? (Most patterns are out at once.)"""
        return all(union & wanted for wanted in self.positions)

    def spans(self, masks: Sequence[int]) -> list[tuple[int, int]]:
        """Every (first, last) word index range where the pattern matches; the shortest match per first word."""
        found: list[tuple[int, int]] = []
        head = self.positions[0]
        for start, mask in enumerate(masks):
            if mask & head:
                end = self._extend(masks, 1, start)
                if end is not None:
                    found.append((start, end))
        return found

    def _extend(self, masks: Sequence[int], position: int, previous: int) -> int | None:
        if position == len(self.positions):
            return previous
        last = min(len(masks), previous + 2 + self.max_gap)
        wanted = self.positions[position]
        for index in range(previous + 1, last):
            if masks[index] & wanted:
                end = self._extend(masks, position + 1, index)
                if end is not None:
                    return end
        return None


def _is_cue(word: str, cues: Iterable[_Word]) -> bool:
    return any(word == cue.text or (cue.prefix and word.startswith(cue.text)) for cue in cues)


@dataclass(frozen=True)
class _Negation:
    """Cues that cancel a match when they stand just before ("pas de fièvre") or just after ("fièvre : non") it."""

    before: tuple[_Word, ...]
    before_fillers: frozenset[str]
    after: tuple[_Word, ...]
    after_fillers: frozenset[str]
    max_fillers: int
    after_verb: frozenset[str] = frozenset()
    after_verb_keep: frozenset[str] = frozenset()

    def after_verb_cancels(self, words: Sequence[str], masks: Sequence[int], last: int, own: int) -> bool:
        """ "elle ne saigne pas", "il ne saigne pas du nez": `after_verb` right after the match, and the word after
        it neither one of the category's own words (`own`: "ça m'oppresse, pas d'air") nor an intensifier."""
        after = last + 1
        if after >= len(words) or words[after] not in self.after_verb:
            return False
        following = after + 1
        return following >= len(words) or not (masks[following] & own or words[following] in self.after_verb_keep)

    def cancels(self, words: Sequence[str], first: int, last: int) -> bool:
        """A cue just before or just after the match."""
        return self._cue_at(words, range(first - 1, -1, -1), self.before, self.before_fillers) or self._cue_at(
            words, range(last + 1, len(words)), self.after, self.after_fillers
        )

    def in_gap(self, words: Sequence[str], masks: Sequence[int], first: int, last: int, union: int) -> bool:
        """A `before` cue inside the match, among the other words a gap lets through, negates the sign between
        its words (round 4): "il ne respire pas mal", "elle ne tousse pas et ne crache rien". A negation that is
        one of the pattern's own words ("je ne sens plus mes jambes") is part of the sign, not a gap word; a "ni"
        continues a denied list whose negation is the sign's own ("plus envie de rien ni de vivre"); "plus rien"
        and "pas rien" intensify ("ça ne sert plus à rien de vivre")."""
        return any(
            not masks[index] & union
            and words[index] != "ni"
            and words[index + 1] != "rien"
            and _is_cue(words[index], self.before)
            for index in range(first + 1, last)
        )

    def _cue_at(
        self, words: Sequence[str], indexes: Iterable[int], cues: tuple[_Word, ...], fillers: frozenset[str]
    ) -> bool:
        skipped = 0
        for index in indexes:
            word = words[index]
            if _is_cue(word, cues):
                return True
            if word in fillers and skipped < self.max_fillers:
                skipped += 1
                continue
            return False
        return False


@dataclass(frozen=True)
class _Context:
    """Clear hypotheticals and resolved past events, which cancel a match (unless its category says otherwise).

    Hypothetical: a cue of `hypothetical` ("en cas de", "si jamais", "que faire si") stands before the match in its
    clause, or the clause opens with a `question_openers` word ("si") in a sentence ending with "?" ("si elle tombe,
    est-ce que je la relève ?"). A bare "si" elsewhere is NOT a hypothetical: "c'est grave si je crache du sang ?"
    asks about a sign the patient has, and stays flagged.
    Resolved: in the same sentence, a `resolved` cue ("c'est passé", "ça va mieux", "réglé") comes after the match
    AND a `past` marker ("la semaine dernière", "il y a", "avait") stands before that cue; a marker right after a
    `not_past_after` word ("depuis hier") is not the past. Both are needed: "j'ai de la fièvre mais ça va" stays
    flagged.
    General question: a message of ONE sentence ending with "?" where a `general_questions` cue ("peut donner",
    "provoque") stands before the sign: "est-ce que la radiothérapie peut donner de la fièvre ?". A second sentence
    ("... ? Mon père en a depuis hier") keeps the sign flagged.
    Resolved over two sentences: the sentence right after the sign's one holds, in its first clause, a `resolved`
    cue, and a `past` marker stands in the sign's sentence or before the cue ("J'ai eu de la fièvre dimanche. C'est
    passé."); the same safeguards (no negation inside the cue, "depuis hier" is not the past) apply."""

    hypothetical: tuple[_Pattern, ...]
    question_openers: frozenset[str]
    opener_leads: frozenset[str]
    present: frozenset[str]
    general_questions: tuple[_Pattern, ...]
    question_cues: tuple[_Pattern, ...]
    asking: tuple[_Pattern, ...]
    resolved: tuple[_Pattern, ...]
    long_ago: tuple[_Pattern, ...]
    long_ago_not_after: tuple[_Word, ...]
    not_resolved_after: frozenset[str]
    past: tuple[_Word, ...]
    not_past_after: frozenset[str]
    negation_words: tuple[_Word, ...]
    others: tuple[_Word, ...] = ()
    reporting: tuple[_Word, ...] = ()
    not_had: tuple[_Pattern, ...] = ()
    someday: tuple[_Pattern, ...] = ()

    def denies_having(self, sentences: Sequence[_Sentence], message_masks: Sequence[Sequence[Sequence[int]]]) -> bool:
        """Round 7: does the message ask (a sentence ending with "?") and, in a sentence that is not a question,
        say the writer or the patient has nothing (`not_had`)? "L'essoufflement, c'est un effet de la chimio ? Je
        n'en ai pas." asks; "J'ai de la fièvre, c'est la chimio ?" reports (no denial)."""
        if not self.not_had or not any(sentence.question for sentence in sentences):
            return False
        for sentence, sentence_masks in zip(sentences, message_masks, strict=True):
            if sentence.question:
                continue
            for words, masks in zip(sentence.clauses, sentence_masks, strict=True):
                for cue in self.not_had:
                    for start, end in cue.spans(masks):
                        if not cue.whole or (start == 0 and end == len(words) - 1):
                            return True
        return False

    def someone_else(self, sentence: _Sentence, clause: int) -> bool:
        """Round 5: does the clause open on another subject (`others`) in a sentence naming neither the writer nor
        a relative who may be the patient? "Le chat fait des petites secousses" is not the patient's; "ma fille m'a
        trouvé par terre" is."""
        words = sentence.clauses[clause]
        return (
            clause < len(sentence.patient)
            and not sentence.patient[clause]
            and bool(words)
            and _is_cue(words[0], self.others)
            and not any(_is_cue(word, self.reporting) for word in words)
        )

    def asks_only(self, all_masks: Iterable[Sequence[int]]) -> bool:
        """Does the message say the writer only asks (an `asking` cue in any clause)?"""
        return any(cue.spans(masks) for masks in all_masks for cue in self.asking)

    def hypothetical_at(
        self,
        sentence: _Sentence,
        all_masks: Sequence[Sequence[int]],
        clause: int,
        first: int,
        *,
        alone: bool,
    ) -> bool:
        """`alone`: the message is this one sentence, or says it only asks (`asks_only`)."""
        words = sentence.clauses[clause]
        masks = all_masks[clause]
        if (
            sentence.question
            and (
                words[0] in self.question_openers
                or (len(words) > 1 and words[0] in self.opener_leads and words[1] in self.question_openers)
            )
            and not any(word in self.present for word in words)
        ):
            return True
        if (
            sentence.question
            and self.someday
            and not self.question_openers.isdisjoint(words[:first])
            and not any(word in self.present for word in words)  # "si je saigne depuis un jour ?" is now
            and any(cue.spans(masks) for cue in self.someday)
        ):
            return True
        if (
            alone
            and sentence.question
            and any(start < first for cue in self.general_questions for start, _ in cue.spans(masks))
        ):
            return True
        if sentence.question and any(
            index < clause or start < first
            for index in range(clause + 1)
            for cue in self.question_cues
            for start, _ in cue.spans(all_masks[index])
        ):
            return True
        return any(start < first for cue in self.hypothetical for start, _ in cue.spans(masks))

    def resolved_after(
        self,
        sentence: _Sentence,
        all_masks: Sequence[Sequence[int]],
        clause: int,
        last: int,
        following: tuple[_Sentence, Sequence[int]] | None = None,
    ) -> bool:
        """Is the match (ending at word `last` of clause `clause`) a resolved past event? `following`: the next
        sentence and the masks of its first clause, for a resolution told in a sentence of its own."""
        for index in range(clause, len(sentence.clauses)):
            for start in self._cues(sentence.clauses[index], all_masks[index]):
                if index == clause and start <= last:
                    continue
                if self._past_before(sentence, index, start):
                    return True
        if following is not None:
            next_sentence, masks = following
            for start in self._cues(next_sentence.clauses[0], masks):
                if self._past_before(sentence, len(sentence.clauses) - 1, len(sentence.clauses[-1])) or (
                    self._past_before(next_sentence, 0, start)
                ):
                    return True
        return False

    def long_ago_in(self, sentence: _Sentence, all_masks: Sequence[Sequence[int]]) -> bool:
        """Is the sentence dated weeks, months or years ago (a `long_ago` cue) with no `present` word? A date within
        three words after a treatment ("chimio il y a une semaine", "sa chimio c'était il y a une semaine") dates the
        treatment, not the sign (round 8: it was the word right before only)."""
        if any(word in self.present for clause in sentence.clauses for word in clause):
            return False
        return any(
            not any(_is_cue(word, self.long_ago_not_after) for word in words[max(0, start - 3) : start])
            for words, masks in zip(sentence.clauses, all_masks, strict=True)
            for cue in self.long_ago
            for start, _ in cue.spans(masks)
        )

    def _cues(self, words: Sequence[str], masks: Sequence[int]) -> Iterator[int]:
        """Where the resolved cues of a clause start, leaving out a cue with a negation inside."""
        for cue in self.resolved:
            for start, end in cue.spans(masks):
                if any(_is_cue(word, self.negation_words) for word in words[start + 1 : end]):
                    continue  # "je ne vais pas bien" is not "je vais bien"; "plus rien" is a cue itself
                if end + 1 < len(words) and _is_cue(words[end + 1], self.negation_words):
                    continue  # "ça (ne) cesse pas", "c'est (pas) passé pas du tout": a negation right after voids it
                if cue.whole and not (start == 0 and end == len(words) - 1):
                    continue  # "…, c'est parti." is over; "…, c'est parti tout seul" (stool) is a sign
                if not self.not_resolved_after.isdisjoint(words[max(0, start - 2) : start]):
                    continue  # "sinon tout va bien": everything else is fine, not the sign
                yield start

    def _past_before(self, sentence: _Sentence, clause: int, start: int) -> bool:
        for index in range(clause + 1):
            words = sentence.clauses[index]
            stop = start if index == clause else len(words)
            for position in range(stop):
                if _is_cue(words[position], self.past) and not (
                    position > 0 and words[position - 1] in self.not_past_after
                ):
                    return True
        return False


@dataclass(frozen=True)
class _Category:
    id: str
    label: str
    severity: Severity
    source: str
    patterns: tuple[_Pattern, ...]
    exclude: tuple[_Pattern, ...]
    hypothetical: bool
    resolved: bool
    own: int = 0
    """Every word of the category's patterns (bits): see `_Negation.after_verb_cancels`."""

    @property
    def flag(self) -> FreeTextFlag:
        return FreeTextFlag(category=self.id, label=self.label, severity=self.severity)

    def matches(
        self,
        words: Sequence[str],
        masks: Sequence[int],
        negation: _Negation,
        candidates: Iterable[_Pattern] | None = None,
    ) -> Iterator[tuple[_Pattern, int, int]]:
        """The matches that are neither negated nor overlapped by an exclusion, lazily: (pattern, first, last).

        Exclusions are tight (adjacent words by default, `exclude_max_gap`): a loose exclusion could swallow a real
        sign next to it ("je ne sens plus mes jambes ni la douleur" must stay a red flag)."""
        union = 0
        for mask in masks:
            union |= mask
        excluded: list[tuple[int, int]] | None = None
        for pattern in self.patterns if candidates is None else candidates:
            for wanted in pattern.positions:  # inlined `pattern.possible(union)`
                if not union & wanted:
                    break
            else:
                for first, last in pattern.spans(masks):
                    if (
                        negation.cancels(words, first, last)
                        or negation.after_verb_cancels(words, masks, last, self.own)
                        or (
                            # not for a category context never cancels (suicidal ideation, a cry for help): in doubt, flag
                            self.hypothetical
                            and last - first >= len(pattern.positions)
                            and negation.in_gap(words, masks, first, last, pattern.union)
                        )
                    ):
                        continue
                    if excluded is None:
                        excluded = [span for rule in self.exclude for span in rule.spans(masks)]
                    if any(first <= other_last and other_first <= last for other_first, other_last in excluded):
                        continue
                    yield pattern, first, last


class SecondOpinion(Protocol):
    """What the screen asks a second reader (`bot.domain.screen_classifier.ScreenClassifier`): the category and
    level it would raise a message to, or None. Declared here so this module never imports the classifier."""

    def opinion(self, text: str) -> tuple[str, str] | None: ...


@dataclass(frozen=True)
class FreeTextVocabulary:
    """The compiled vocabulary: categories in file order, with everything needed to screen a message."""

    version: int
    source: str
    categories: tuple[_Category, ...]
    normaliser: _Normaliser
    negation: _Negation
    fuzz: _Fuzz
    context: _Context
    index: _WordIndex
    anchors: Mapping[int, tuple[tuple[int, int], ...]]
    """Word number -> the (category, pattern) positions of the patterns whose first word it can be: a clause only
    tries the patterns its words can start, so the cost follows the message, not the size of the vocabulary."""
    second_opinion: SecondOpinion | None = None
    """The classifier that may raise (never lower) the rules' level; None screens with the rules alone."""

    def candidates(self, union: int) -> list[list[_Pattern]]:
        """Per category (file order), the patterns whose first position one of the clause's words matches."""
        chosen: set[tuple[int, int]] = set()
        while union:
            lowest = union & -union
            chosen.update(self.anchors.get(lowest.bit_length() - 1, ()))
            union ^= lowest
        per_category: list[list[_Pattern]] = [[] for _ in self.categories]
        for category, pattern in sorted(chosen):
            per_category[category].append(self.categories[category].patterns[pattern])
        return per_category

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(category.id for category in self.categories)

    def flag_for(self, category_id: str) -> FreeTextFlag:
        """The flag a category raises (e.g. to label a stored alert); KeyError for an unknown id."""
        for category in self.categories:
            if category.id == category_id:
                return category.flag
        raise KeyError(category_id)


def _surviving(
    text: str, vocabulary: FreeTextVocabulary, *, first_only: bool
) -> Iterator[tuple[_Category, _Pattern, tuple[str, ...], int, int]]:
    """Every match that survives negation, exclusions and context: (category, pattern, clause, first, last).
    With `first_only`, a category stops being searched once found (the screen); without, all (the explanation)."""
    found: set[str] = set()
    context = vocabulary.context
    sentences = vocabulary.normaliser.sentences(text)
    single_clause = len(sentences) == 1 and len(sentences[0].clauses) == 1
    message_masks = [[vocabulary.index.masks(clause) for clause in sentence.clauses] for sentence in sentences]
    alone = len(sentences) == 1 or (
        any(sentence.question for sentence in sentences)
        and context.asks_only(masks for sentence_masks in message_masks for masks in sentence_masks)
    )
    denied = context.denies_having(sentences, message_masks)
    for sentence_number, sentence in enumerate(sentences):
        all_masks = message_masks[sentence_number]
        following: tuple[_Sentence, tuple[int, ...]] | None = None
        if sentence_number + 1 < len(sentences):
            next_sentence = sentences[sentence_number + 1]
            following = (next_sentence, message_masks[sentence_number + 1][0])
        for number, (words, masks) in enumerate(zip(sentence.clauses, all_masks, strict=True)):
            union = 0
            for mask in masks:
                union |= mask
            candidates = vocabulary.candidates(union)
            for category, patterns in zip(vocabulary.categories, candidates, strict=True):
                if not patterns or (first_only and category.id in found):
                    continue
                for pattern, first, last in category.matches(words, masks, vocabulary.negation, patterns):
                    if pattern.whole and not (single_clause and first == 0 and last == len(words) - 1):
                        continue
                    if category.hypothetical and context.someone_else(sentence, number):
                        continue
                    if category.hypothetical and denied and sentence.question:
                        continue  # Round 7: asked about, and the message says the patient has none of it
                    if (
                        category.hypothetical
                        and context.hypothetical_at(sentence, all_masks, number, first, alone=alone)
                    ) or (
                        category.resolved
                        and (
                            context.resolved_after(sentence, all_masks, number, last, following)
                            or context.long_ago_in(sentence, all_masks)
                        )
                    ):
                        continue
                    found.add(category.id)
                    yield category, pattern, words, first, last
                    if first_only:
                        break


# ---------------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------------
def screen_free_text(text: str, vocabulary: FreeTextVocabulary) -> tuple[FreeTextFlag, ...]:
    """The red-flag categories found in a patient's message, in vocabulary order, each once; () when none.

    Never raises on any string (emoji, other scripts, empty, huge): what is not a Latin letter or a digit is a
    separator.
    """
    found = {category.id for category, *_ in _surviving(text, vocabulary, first_only=True)}
    flags = tuple(category.flag for category in vocabulary.categories if category.id in found)
    if vocabulary.second_opinion is None:
        return flags
    return _raised(flags, vocabulary.second_opinion.opinion(text), vocabulary)


def _raised(
    flags: tuple[FreeTextFlag, ...], opinion: tuple[str, str] | None, vocabulary: FreeTextVocabulary
) -> tuple[FreeTextFlag, ...]:
    """The rules' flags, plus the second opinion's category when (and only when) it raises the message's level.

    Raise-only by construction: every rules flag is kept as it is, and a flag is added only when its level is
    above the highest the rules found. The added flag is the named category's (its label, hence its advice), at the
    opinion's level ("severe pain" is a same-day opinion although the rules' category is urgent)."""
    if opinion is None:
        return flags
    category, level = opinion
    current = max((_SEVERITY_RANK[flag.severity] for flag in flags), default=0)
    if _SEVERITY_RANK[level] <= current:
        return flags
    added = replace(vocabulary.flag_for(category), severity=level)
    order = vocabulary.category_ids
    kept = tuple(flag for flag in flags if flag.category != category)
    return tuple(sorted((*kept, added), key=lambda flag: order.index(flag.category)))


ScreenSeverity = Literal["urgent", "same_day", "info", "none"]
"""A whole message's level: its most severe category's, "none" when nothing is found."""

_SEVERITY_RANK: Final[dict[str, int]] = {"urgent": 3, "same_day": 2, "info": 1, "none": 0}


def screen_severity(text: str, vocabulary: FreeTextVocabulary) -> tuple[ScreenSeverity, tuple[str, ...]]:
    """(the message's level, the category ids found in vocabulary order): one call for tools and other services
    that need a single answer per message (the `python -m bot screen` command, the metrics script)."""
    flags = screen_free_text(text, vocabulary)
    level: ScreenSeverity = "none"
    for flag in flags:
        if _SEVERITY_RANK[flag.severity] > _SEVERITY_RANK[level]:
            level = flag.severity  # type: ignore[assignment]  # a flag's severity is one of the ScreenSeverity strings (checked at load)
    return level, tuple(flag.category for flag in flags)


def explain_free_text(text: str, vocabulary: FreeTextVocabulary) -> tuple[tuple[str, str, str], ...]:
    """Why a message was flagged: (category id, pattern as written in the file, the normalised words it matched).

    For developers and for reviewing the vocabulary with clinicians (never shown to patients); the words are the
    normalised form ("jsens pu mes jambes" -> "sens pu jambes").
    """
    return tuple(
        (category.id, pattern.source, " ".join(words[first : last + 1]))
        for category, pattern, words, first, last in _surviving(text, vocabulary, first_only=False)
    )


def load_free_text_vocabulary(path: Path) -> FreeTextVocabulary:
    """Read, validate and compile the vocabulary file; any problem is a `FreeTextVocabularyError` naming the file."""
    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise FreeTextVocabularyError(f"{path}: cannot be read ({error})") from error
    except yaml.YAMLError as error:
        raise FreeTextVocabularyError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(raw, dict):
        raise FreeTextVocabularyError(f"{path}: the top level must be a mapping (version, source, categories, ...)")
    try:
        model = _VocabularyModel.model_validate(raw)
    except ValidationError as error:
        raise FreeTextVocabularyError(f"{path}: {error}") from error
    try:
        return _compile(model)
    except ValueError as error:
        raise FreeTextVocabularyError(f"{path}: {error}") from error


# ---------------------------------------------------------------------------------------------------------------
# Compilation (file model -> matcher), each step refusing what would silently never match
# ---------------------------------------------------------------------------------------------------------------
def _compile(model: _VocabularyModel) -> FreeTextVocabulary:
    norm = model.normalisation
    stopwords = frozenset(_single_word(word, "stop word") for word in norm.stopwords)
    rewrites: dict[tuple[str, ...], tuple[str, ...]] = {}
    for written, replacement in norm.rewrites.items():
        key = tuple(_words_of(written))
        if not key:
            raise ValueError(f'rewrite "{written}" has no word to replace')
        rewrites[key] = tuple(_words_of(replacement))
    normaliser = _Normaliser(
        rewrites=rewrites,
        rewrite_lengths=tuple(sorted({len(key) for key in rewrites}, reverse=True)),
        clause_breaks=frozenset(_single_word(word, "clause break") for word in norm.clause_breaks),
        stopwords=stopwords,
        symbols=dict(norm.symbols),
        patient_words=frozenset(_single_word(word, "patient word") for word in model.context.patient_words),
    )
    unreachable = stopwords | {key[0] for key in rewrites if len(key) == 1} | normaliser.clause_breaks
    neg = model.negation
    negation = _Negation(
        before=tuple(_compile_word(word, "negation cue") for word in neg.before),
        before_fillers=frozenset(_single_word(word, "negation filler") for word in neg.before_fillers),
        after=tuple(_compile_word(word, "negation cue") for word in neg.after),
        after_fillers=frozenset(_single_word(word, "negation filler") for word in neg.after_fillers),
        max_fillers=neg.max_fillers,
        after_verb=frozenset(_single_word(word, "negation cue") for word in neg.after_verb),
        after_verb_keep=frozenset(_single_word(word, "intensifier") for word in neg.after_verb_keep),
    )
    fuzz = _Fuzz(
        min_length=model.matching.fuzzy_min_length,
        long_length=model.matching.fuzzy_long_length,
        real_words=frozenset(_single_word(word, "real word") for word in model.matching.real_words),
    )
    index = _WordIndex(fuzz)
    lexicon = {
        name: tuple(_compile_word(word, f'word of group "@{name}"', unreachable) for word in words)
        for name, words in model.lexicon.items()
    }

    def pattern(item: str | _PatternModel, gap: int, where: str) -> _Pattern:
        return _compile_pattern(item, gap, lexicon, unreachable, where, index)

    categories = tuple(
        _Category(
            id=category.id,
            label=category.label,
            severity=category.severity,
            source=category.source,
            patterns=tuple(pattern(item, model.matching.max_gap, category.id) for item in category.patterns),
            exclude=tuple(pattern(item, model.matching.exclude_max_gap, category.id) for item in category.exclude),
            hypothetical=category.hypothetical,
            resolved=category.resolved,
        )
        for category in model.categories
    )
    categories = tuple(replace(category, own=_own_words(category.patterns)) for category in categories)
    ctx = model.context
    context = _Context(
        hypothetical=tuple(pattern(item, 0, "context.hypothetical") for item in ctx.hypothetical),
        question_openers=frozenset(_single_word(word, "question opener") for word in ctx.question_openers),
        opener_leads=frozenset(_single_word(word, "opener lead") for word in ctx.opener_leads),
        present=frozenset(_single_word(word, "present marker") for word in ctx.present),
        general_questions=tuple(pattern(item, 0, "context.general_questions") for item in ctx.general_questions),
        question_cues=tuple(pattern(item, 0, "context.question_cues") for item in ctx.question_cues),
        asking=tuple(pattern(item, 0, "context.asking") for item in ctx.asking),
        not_had=tuple(pattern(item, 0, "context.not_had") for item in ctx.not_had),
        someday=tuple(pattern(item, 0, "context.someday") for item in ctx.someday),
        resolved=tuple(pattern(item, 1, "context.resolved") for item in ctx.resolved),
        long_ago=tuple(pattern(item, 0, "context.long_ago") for item in ctx.long_ago),
        long_ago_not_after=tuple(_compile_word(word, "treatment word") for word in ctx.long_ago_not_after),
        not_resolved_after=frozenset(_single_word(word, "not-resolved word") for word in ctx.not_resolved_after),
        past=tuple(_compile_word(word, "past marker") for word in ctx.past),
        not_past_after=frozenset(_single_word(word, "not-past word") for word in ctx.not_past_after),
        negation_words=negation.before,
        others=tuple(_compile_word(word, "other subject") for word in ctx.others),
        reporting=tuple(_compile_word(word, "reporting word") for word in ctx.reporting),
    )
    index.freeze()
    anchors: dict[int, list[tuple[int, int]]] = {}
    for category_number, category in enumerate(categories):
        for pattern_number, compiled in enumerate(category.patterns):
            head = compiled.positions[0]
            while head:
                lowest = head & -head
                anchors.setdefault(lowest.bit_length() - 1, []).append((category_number, pattern_number))
                head ^= lowest
    return FreeTextVocabulary(
        version=model.version,
        source=model.source,
        categories=categories,
        normaliser=normaliser,
        negation=negation,
        fuzz=fuzz,
        context=context,
        index=index,
        anchors={bit: tuple(found) for bit, found in anchors.items()},
    )


def _own_words(patterns: Iterable[_Pattern]) -> int:
    own = 0
    for compiled in patterns:
        own |= compiled.union
    return own


def _single_word(written: str, what: str) -> str:
    words = _words_of(written)
    if len(words) != 1:
        raise ValueError(f'{what} "{written}" must be exactly one word')
    return words[0]


def _compile_word(written: str, what: str, unreachable: frozenset[str] = frozenset()) -> _Word:
    """`word` or `stem*`, normalised like message words; refused if a message word could never equal it."""
    prefix = written.endswith("*")
    text = _single_word(written[:-1] if prefix else written, what)
    if not prefix and text in unreachable:
        raise ValueError(
            f'{what} "{written}" is a stop word, clause break or rewritten word: no message word can match it'
        )
    return _Word(text=text, prefix=prefix)


def _compile_pattern(
    item: str | _PatternModel,
    default_gap: int,
    lexicon: Mapping[str, tuple[_Word, ...]],
    unreachable: frozenset[str],
    owner: str,
    index: _WordIndex,
) -> _Pattern:
    written, gap = (item, default_gap) if isinstance(item, str) else (item.words, item.max_gap)
    whole = isinstance(item, _PatternModel) and item.whole
    where = f'category "{owner}", pattern "{written}"'
    positions: list[int] = []
    for chunk in written.split():
        mask = 0
        for alternative in chunk.split("|"):
            if alternative.startswith("@"):
                group = lexicon.get(alternative[1:])
                if group is None:
                    raise ValueError(f"{where}: unknown word group {alternative}")
                for word in group:
                    mask |= index.bit(word)
            elif alternative:
                try:
                    mask |= index.bit(_compile_word(alternative, "word", unreachable))
                except ValueError as error:
                    raise ValueError(f"{where}: {error}") from None
            else:
                raise ValueError(f'{where}: empty alternative in "{chunk}"')
        positions.append(mask)
    if not positions:
        raise ValueError(f"{where}: no word")
    union = 0
    for mask in positions:
        union |= mask
    return _Pattern(
        source=written,
        positions=tuple(positions),
        max_gap=default_gap if gap is None else gap,
        whole=whole,
        union=union,
    )
