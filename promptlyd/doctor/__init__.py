"""``promptly doctor``: what is wrong with this set-up, and what to do about it.

Each check in ``checks.CHECKS`` looks at one thing through the daemon's own code
(the config loader, the store's schema, the key store, the provider registry and
model directory, the catalog, the skill parser, the sources' test through the
daemon's API) and returns ``Finding``s: ``ok``, ``warn`` (worth knowing, nothing
broken) or ``problem`` (something needs fixing: exit 1). A check that needs what
an earlier one could not give (a valid config, a daemon that answers) is
``skipped``, saying why. Adding a check is adding a function to the list.
"""
