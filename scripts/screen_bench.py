"""Cost of the free-text screen per message, in CPU time of this process, for one source tree.

Why: the machine is shared, so wall-clock figures swing with the load; the process's own CPU time, best of 20
warm passes, compares two trees fairly when their runs are interleaved (see benchmarks/screen.md).

    .venv/bin/python scripts/screen_bench.py TREE FILE.jsonl [FILE.jsonl ...]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    tree = Path(argv[0]).resolve()
    sys.path.insert(0, str(tree))
    from bot.domain.free_text_screen import (  # noqa: PLC0415 (imported from the tree named on the command line)
        DEFAULT_VOCABULARY_PATH,
        load_free_text_vocabulary,
        screen_severity,
    )

    texts = [
        json.loads(line)["text"]
        for name in argv[1:]
        for line in Path(name).read_text("utf-8").splitlines()
        if line.strip()
    ]
    started = time.process_time()
    vocabulary = load_free_text_vocabulary(DEFAULT_VOCABULARY_PATH)
    load_ms = (time.process_time() - started) * 1000
    started = time.process_time()
    for text in texts:
        screen_severity(text, vocabulary)
    first_us = (time.process_time() - started) * 1e6 / len(texts)
    passes: list[float] = []
    for _ in range(20):
        started = time.process_time()
        for text in texts:
            screen_severity(text, vocabulary)
        passes.append((time.process_time() - started) * 1e6 / len(texts))
    passes.sort()
    patterns = sum(len(category.patterns) for category in vocabulary.categories)
    print(
        f"{tree}: {len(texts)} messages, {len(vocabulary.categories)} categories, {patterns} patterns; "
        f"vocabulary load {load_ms:.1f} ms; first pass {first_us:.0f} µs; warm best {passes[0]:.0f} µs, "
        f"median {passes[10]:.0f} µs per message (CPU time)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
