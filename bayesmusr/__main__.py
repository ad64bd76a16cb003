"""``python -m bayesmusr ...`` and the ``bayesmusr`` script: the command line, interruptible from its first moment.

Importing the command line (numpy, numba, xarray, ArviZ) takes a second or more; a Ctrl-C or SIGTERM
in that time would print a traceback from the middle of some import.  :func:`entry` first makes
both signals end the program with one line and status 130, then imports and runs
:func:`bayesmusr.cli.main`, which handles them from there on.
"""
import importlib
import signal
import sys


def _starting(signum, frame):  # pragma: no cover - exercised through a subprocess in the tests
    sys.stderr.write("bayesmusr: interrupted while starting; nothing was done\n")
    sys.exit(130)


def entry() -> int:
    """Run the command line (the ``bayesmusr`` script).

    Returns
    -------
    int
        Exit status of :func:`bayesmusr.cli.main`.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _starting)
    main = importlib.import_module("bayesmusr.cli").main
    return main()


if __name__ == "__main__":  # guarded: spawned worker processes import this module as __mp_main__
    sys.exit(entry())
