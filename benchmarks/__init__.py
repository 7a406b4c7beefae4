"""Performance benchmarks of spinal-pro-bot (issue #8): `python -m benchmarks [--quick]`.

Every figure is measured on the real thing: the production `Application` built by `bot.telegram.app`, a real
SQLite file, and the Bot API stand-in (`bot.standin`) over loopback HTTP. The bot runs in its own process, as in
production, so the fake Telegram and the simulated patients (this process) do not share its CPU core.

Scenarios (see benchmarks/README.md for the results and how to read them):
- `answers`: 50 patients answering a questionnaire at once; throughput, press→next-question latency, and the
  ratio to a bare PTB application doing the same HTTP calls without storage or rules (`bare.py`).
- `fanout`: 10,000 questionnaires due at the same minute, against Telegram's flood limits (the stand-in's).
- `scale`: the scheduler's due query and a tick with 10,000 patients and 90 days of answers; the bot's RSS.
- `alerts`: red-flag answer → alert in the clinicians' group, with the real tick job, on an idle bot and during
  the 10:00 fan-out.
"""
