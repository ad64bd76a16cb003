"""emcee's HDF5 backend, writing the chain in batches instead of one file opening per step.

``emcee.backends.HDFBackend`` opens the HDF5 file for every step it saves (and for every read of
``iteration``, ``shape``, …): profiled at 3.7 ms per step on a campaign scan, 7.4 s of a 55 s job
(five chains of 400 steps), as much as the sampling of a cheap posterior.  This subclass keeps
the steps in memory and writes them at once whenever anything reads or resizes the file — the
sampler's convergence checks read it every ``check_every`` steps — or when
:data:`FLUSH_EVERY` steps have piled up, or on :meth:`BufferedHDFBackend.flush` (which
:mod:`bayesmusr.inference.sampling` calls when a run stops or is interrupted).  The file's
contents are exactly what the plain backend writes; a process killed outright loses at most
the steps since the last write (resuming continues from the last written one).
"""
from __future__ import annotations

import emcee
import numpy as np

__all__ = ["BufferedHDFBackend", "FLUSH_EVERY"]

#: most steps held in memory before they are written
FLUSH_EVERY = 100


class BufferedHDFBackend(emcee.backends.HDFBackend):
    """:class:`emcee.backends.HDFBackend` that writes the steps it is given in batches (module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rows: list[tuple] = []  # (coords, log_prob, accepted, random_state) per unwritten step
        self._written = 0  # the file's iteration when the first unwritten step came
        self._flushing = False

    def open(self, mode: str = "r"):
        """The HDF5 file, after the unwritten steps are written (every read and write passes here).

        Parameters
        ----------
        mode : str
            h5py mode.

        Returns
        -------
        h5py.File
        """
        if self._rows and not self._flushing:
            self.flush()
        return super().open(mode)

    @property
    def iteration(self) -> int:
        """Steps in the chain, the unwritten ones included (no file access while steps are held)."""
        return self._written + len(self._rows) if self._rows else super().iteration

    def save_step(self, state, accepted) -> None:
        """Hold a step (written with the others at the next flush).

        Parameters
        ----------
        state : emcee.State
            The ensemble after the step.
        accepted : ndarray of bool
            Whether each walker's proposal was accepted.
        """
        if state.blobs is not None:  # not used by bayesmusr: the plain way
            super().save_step(state, accepted)
            return
        if not self._rows:
            self._written = super().iteration
        self._rows.append((np.array(state.coords), np.array(state.log_prob), np.asarray(accepted, dtype=int),
                           state.random_state))
        if len(self._rows) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Write the held steps to the file (nothing to do if none are held)."""
        if not self._rows:
            return
        rows, self._flushing = self._rows, True
        try:
            with super().open("a") as f:
                g = f[self.name]
                start, n = int(g.attrs["iteration"]), len(rows)
                g["chain"][start:start + n] = np.stack([r[0] for r in rows])
                g["log_prob"][start:start + n] = np.stack([r[1] for r in rows])
                g["accepted"][:] += np.sum([r[2] for r in rows], axis=0)
                for i, v in enumerate(rows[-1][3]):
                    g.attrs[f"random_state_{i}"] = v
                g.attrs["iteration"] = start + n
            self._rows = []
        finally:
            self._flushing = False
