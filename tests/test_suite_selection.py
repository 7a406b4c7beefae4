"""Which database tests the PostgreSQL pass keeps with `--skip-covered` (tests/pg_support.py `select_covering`):
every statement the SQLite pass saw is run at least once, the always-kept and unknown tests stay, and the choice is
the same on every xdist worker."""

from __future__ import annotations

import random
from typing import Any

import pg_support


def _known(**tests: tuple[float, list[str]]) -> dict[str, dict[str, Any]]:
    return {name: {"seconds": seconds, "sql": sql, "child": False} for name, (seconds, sql) in tests.items()}


def test_every_statement_is_kept_once_and_the_cheapest_cover_wins() -> None:
    known = _known(
        long_journey=(60.0, ["a", "b", "c", "d"]),
        short_a=(1.0, ["a", "b"]),
        short_c=(1.0, ["c"]),
        short_d=(2.0, ["d", "b"]),
        duplicate=(1.0, ["a"]),
    )
    kept, left = pg_support.select_covering(list(known), known, always=set())
    assert set(kept) == {"short_a", "short_c", "short_d"}
    assert set(left) == {"long_journey", "duplicate"}
    covered = set().union(*(known[name]["sql"] for name in kept))
    assert covered == {"a", "b", "c", "d"}


def test_always_kept_and_unknown_tests_stay_and_count_as_cover() -> None:
    known = _known(storage=(5.0, ["a", "b"]), journey=(1.0, ["a"]), other=(1.0, ["c"]))
    kept, left = pg_support.select_covering(["storage", "journey", "other", "new_test"], known, always={"storage"})
    assert kept == ["storage", "other", "new_test"]  # the candidates' order; "new_test" was not in the SQLite pass
    assert left == ["journey"]


def test_a_test_without_statements_of_its_own_is_left_out_and_the_choice_does_not_depend_on_order() -> None:
    known = _known(**{f"t{i}": (1.0, ["x", f"s{i % 3}"]) for i in range(9)})
    order = list(known)
    first = pg_support.select_covering(order, known, always=set())
    shuffled = order[:]
    random.Random(7).shuffle(shuffled)
    again = pg_support.select_covering(shuffled, known, always=set())
    assert set(first[0]) == set(again[0]) == {"t0", "t1", "t2"}  # ties broken by node id
    assert len(first[1]) == 6
