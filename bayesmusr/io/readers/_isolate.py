"""Run a C-library reader in a forked child, so that a crash in the library cannot take the caller down."""
from __future__ import annotations

import multiprocessing
import os

from bayesmusr.io.errors import RunFormatError

__all__ = ["call_isolated"]


def _child(conn, func, args) -> None:  # pragma: no cover - runs in the forked child
    try:
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
    library) abort or crash the interpreter on some damaged files instead of
    reporting an error. Running them in a child turns such a crash into a
    :class:`RunFormatError`. Exceptions raised in the child are re-raised here.
    Where ``fork`` is unavailable the call is made in-process.

    Parameters
    ----------
    path : path
        The file being read (for the error message).
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
        The child process died (the library crashed on the file).
    """
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        return func(*args)
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, func, args), daemon=True)
    proc.start()
    send.close()
    try:
        status, payload = recv.recv()
    except (EOFError, OSError):
        status, payload = None, None
    finally:
        recv.close()
        proc.join()
    if status is None:
        raise RunFormatError(
            path, "file content",
            f"the {library} library crashed while reading it (exit code {proc.exitcode}): the file is damaged",
        )
    if status == "error":
        raise payload
    return payload
