"""``python -m bayesmusr ...``: the command-line interface, the same as the ``bayesmusr`` script."""
import sys

from bayesmusr.cli import main

if __name__ == "__main__":  # guarded: spawned worker processes import this module as __mp_main__
    sys.exit(main())
