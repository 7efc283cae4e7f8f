"""Executing runs: run states and their one transition table (``states``), the
concurrency slots (``slots``), prompt composition (``compose``, pure) and the
executor that takes a run from pending to a recorded result (``executor``).

Owns a run's life from creation to its final status; it never decides *when* a
task runs (that is :mod:`promptlyd.scheduling`) and changes a run's status only
through the store's one transition function.
"""
