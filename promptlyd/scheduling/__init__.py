"""When tasks run: pure triggers (``triggers``: schedule math, DST, cron), the wake
loop that claims due slots (``loop``) and the waker that sleeps until the next one
(``waker``: timerfd, clock jumps, suspend).

Owns the decision *which slot runs*; it hands runs to the executor through the
``Executor`` Protocol of :mod:`promptlyd.runs` and never talks to a model, a source
or a destination, and never writes SQL (the store does).
"""
