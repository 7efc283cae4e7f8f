"""Skills as Markdown files: parse a file (``parse``, pure), edit one in place
(``edit``, pure), plan what a folder scan changes in the database (``plan``,
pure), keep the folder and the database in step (``sync``: rescan what the
watcher reports — ``watch``: inotify on Linux, watchfiles elsewhere),
write API changes back to the files (``write``) and install the bundled examples
(``examples``).

The skills folder is the truth; the database holds a copy. Nothing here runs a
task or knows about schedules.
"""
