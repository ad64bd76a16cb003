"""Which chain a backend holds: the fingerprint of a fit, stored beside its emcee backend.

A chain may be resumed only into the fit it belongs to.  Its fingerprint is a hash of the model
description (priors, options), the reduced data of every run, the seed and the sampler settings
that change the posterior's chain (not those that only change how long it runs or how it is
shown).  It is written next to the backend as ``<backend>.fingerprint``.  The scan job restarts a
chain whose fingerprint differs (its backends are its own files); a backend the user named is
never deleted: a mismatch is refused with what to do.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["chain_fingerprint", "stamp_path", "LENGTH_SETTINGS", "check_user_backend"]

#: sampler settings that only change how long a chain runs or how it is shown: a backend made with other
#: values is still the same posterior's chain, so it is resumed
LENGTH_SETTINGS = ("min_steps", "max_steps", "max_seconds", "progress", "workers", "check_every")


def chain_fingerprint(description, runs: Iterable, seed: int, settings: Mapping) -> str:
    """SHA-256 of what a chain depends on.

    Parameters
    ----------
    description : JSON-able
        The problem's description (model, priors, options).
    runs : iterable of RunData
        The reduced runs (their arrays are hashed).
    seed : int
        Sampler seed.
    settings : mapping
        Sampler settings; those of :data:`LENGTH_SETTINGS` are left out.

    Returns
    -------
    str
        Hex digest.
    """
    h = hashlib.sha256()
    h.update(json.dumps(description, sort_keys=True, default=str).encode())
    h.update(json.dumps({k: v for k, v in settings.items() if k not in LENGTH_SETTINGS},
                        sort_keys=True, default=str).encode())
    h.update(f"seed={seed}".encode())
    for run in runs:
        for name in ("t", "forward", "backward", "asymmetry", "error"):
            a = getattr(run, name, None)
            if a is not None:
                h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def stamp_path(backend: str | pathlib.Path) -> pathlib.Path:
    """The fingerprint file of a backend.

    Parameters
    ----------
    backend : path
        The emcee HDF5 backend.

    Returns
    -------
    pathlib.Path
        ``<backend>.fingerprint``.
    """
    backend = pathlib.Path(backend)
    return backend.with_name(backend.name + ".fingerprint")


def check_user_backend(backend: str | pathlib.Path | None, fp: str) -> None:
    """Allow resuming a user's ``--backend`` only into the fit it was made for; stamp a new one.

    Parameters
    ----------
    backend : path or None
        The backend the user named (None: nothing to check).
    fp : str
        This fit's :func:`chain_fingerprint`.

    Returns
    -------
    None
        Raises ValueError if the backend holds another fit's chain.
    """
    if backend is None:
        return
    backend, stamp = pathlib.Path(backend), stamp_path(backend)
    old = stamp.read_text().strip() if stamp.exists() else None
    if backend.exists() and old != fp:
        why = ("has no fingerprint (not written by this bayesmusr)" if old is None else
               "holds the chain of another fit (other data, model, priors, seed or sampler settings)")
        raise ValueError(f"--backend {backend}: {why}; resuming it would mix two posteriors. Give another "
                         f"--backend, or delete {backend} (and {stamp.name}) to start afresh")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fp + "\n")
