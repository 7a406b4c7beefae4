"""The offline sandbox (a web page showing a patient's phone and the clinicians' group) and `python -m bot demo`.

Both run the real bot against the Bot API stand-in with a virtual clock (`world.py`); nothing here is needed to
run the bot in production.
"""
