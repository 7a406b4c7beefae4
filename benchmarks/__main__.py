"""`python -m benchmarks`: see `benchmarks.run`."""

from benchmarks.run import main

if __name__ == "__main__":  # the bot processes are spawned: they re-import this module as __mp_main__
    raise SystemExit(main())
