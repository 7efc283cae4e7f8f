"""``python -m promptlyd.daemon``: the same as ``promptlyd``."""

from promptlyd.daemon.main import main

main()
