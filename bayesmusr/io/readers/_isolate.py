"""Run a C-library reader in a forked child, so that a crash, a runaway allocation or an endless loop
in the library cannot take the caller down.

Measured on damaged copies of the test files (600 random truncations, byte overwrites and
bit flips per format, each read in-process without this module): the HDF4 library under
``pyhdf`` killed the interpreter on 17 (13 SIGABRT, 2 SIGSEGV, 1 SIGBUS, 1 still running
after 20 s), the MUD library on 18 (15 SIGSEGV; 3 ran 2-4 minutes, one of them allocating
5.8 GB before crashing); ``musr2py`` crashes on unchecked PSI headers (the PSI reader
checks the header first). HDF5 (h5py, 1500 damaged NeXus v2 files) and uproot (800
damaged ROOT files) never crashed and stay in-process.

So the child gets a memory limit (``RLIMIT_AS``: its size at the fork plus
:data:`MEMORY_ALLOWANCE_BYTES` or 32 times the file, whichever is larger) and the parent
waits at most :data:`TIME_LIMIT_S` seconds before killing it. The child also gets a CPU
limit (``RLIMIT_CPU``, :data:`TIME_LIMIT_S` + 10 s): a parent killed while it waits
(seen when a test harness's alarm struck) would otherwise leave an orphan looping in
the HDF4 library for as long as the machine runs.
"""
from __future__ import annotations

import faulthandler
import multiprocessing
import os

try:
    import resource
except ImportError:  # pragma: no cover - Windows: no rlimits (and no fork either)
    resource = None

from bayesmusr.io.errors import RunFormatError

__all__ = ["MEMORY_ALLOWANCE_BYTES", "TIME_LIMIT_S", "call_isolated"]

#: Seconds a library may take to read one file (real files take well under a second each).
TIME_LIMIT_S = 120.0
#: Memory a library may allocate beyond the interpreter's size at the fork (at least; see module docstring).
MEMORY_ALLOWANCE_BYTES = 2 << 30


def _limit_resources(path) -> None:  # pragma: no cover - runs in the forked child
    """Cap the child's address space, so that a damaged size field fails an allocation instead of exhausting RAM,
    and its CPU time, so that a looping library dies even when the parent was killed before it could kill it."""
    if resource is None:
        return
    try:
        _, hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)
        cpu = int(TIME_LIMIT_S) + 10  # the parent's own limit (wall time) normally strikes first
        if hard_cpu == resource.RLIM_INFINITY or cpu < hard_cpu:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard_cpu))
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/self/statm") as fh:  # Linux; elsewhere the time limit alone applies
            current = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        allowance = max(MEMORY_ALLOWANCE_BYTES, 32 * os.path.getsize(path))
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = current + allowance
        if hard == resource.RLIM_INFINITY or limit < hard:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError):
        pass


def _child(conn, path, func, args) -> None:  # pragma: no cover - runs in the forked child
    try:
        faulthandler.disable()  # a crash here is reported by the parent; a dump of the child's stack is noise
        _limit_resources(path)
        try:
            conn.send(("ok", func(*args)))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            try:
                conn.send(("error", exc))
            except Exception:  # noqa: BLE001 - an exception that cannot be pickled
                conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        conn.close()
    finally:
        os._exit(0)


def call_isolated(path: str | os.PathLike, library: str, func, *args):
    """Run ``func(*args)`` in a forked child process and return its result.

    The C libraries behind the binary readers (HDF4 via pyhdf, musr2py, the MUD
    library) abort, crash, allocate without bound or loop on some damaged files
    instead of reporting an error (module docstring). Running them in a child with a
    memory and a time limit turns each of these into a :class:`RunFormatError`.
    Exceptions raised in the child are re-raised here. Where ``fork`` is unavailable
    the call is made in-process.

    Parameters
    ----------
    path : path
        The file being read (for the error message and the memory allowance).
    library : str
        Name of the library, for the error message.
    func : callable
        Module-level function to call; its result must be picklable.
    *args
        Arguments for ``func``.

    Returns
    -------
    object
        What ``func(*args)`` returned.

    Raises
    ------
    RunFormatError
        The child process died (the library crashed on the file) or did not finish
        within :data:`TIME_LIMIT_S` seconds.
    """
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        return func(*args)
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, path, func, args), daemon=True)
    proc.start()
    send.close()
    status, payload = None, None
    try:
        if recv.poll(TIME_LIMIT_S):  # also True when the child died: recv() then raises EOFError
            status, payload = recv.recv()
        else:
            status = "timeout"
    except (EOFError, OSError):
        pass
    finally:
        recv.close()
        if proc.is_alive() and status != "ok" and status != "error":
            proc.kill()  # a hung library, or the caller interrupted: never leave the child behind
        proc.join()
    if status == "timeout":
        raise RunFormatError(
            path, "file content",
            f"the {library} library did not finish reading it within {TIME_LIMIT_S:g} s: the file is damaged "
            "(limit: bayesmusr.io.readers._isolate.TIME_LIMIT_S)",
        )
    if status is None:
        raise RunFormatError(
            path, "file content",
            f"the {library} library crashed while reading it (exit code {proc.exitcode}): the file is damaged",
        )
    if status == "error":
        raise payload
    return payload
