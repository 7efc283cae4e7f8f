"""Running promptlyd as a service of the OS's own manager (SPEC §2).

    promptly service install | uninstall | status
        └─► managers.manager_for(sys.platform)  ─► systemd.SystemdUser (Linux)
                                                 └► launchd.LaunchAgent (macOS)

``units`` renders the shipped unit (``promptlyd/data/systemd/``, the repository's
``systemd/``) for this machine — pure: paths and numbers in, text out.
``executable`` finds the ``promptlyd`` of the running ``promptly`` (the same
venv, pipx or ``--user`` install). A manager runs its tool (``systemctl``,
``launchctl``) through an injectable ``Run``; where the tool cannot reach a
user manager (a container, no session bus) the unit is written and the exact
commands to run are returned instead. Adding a manager is adding a module to
the registry in ``managers``.
"""
