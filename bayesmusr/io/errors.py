"""The one error type of the io layer: a run file that cannot be read."""
from __future__ import annotations

import os

__all__ = ["RunFormatError"]


class RunFormatError(ValueError):
    """A run file could not be read: wrong format, damaged, or missing a field.

    Parameters
    ----------
    path : str or os.PathLike
        The file concerned.
    field : str
        The field, dataset or header entry at fault.
    expected : str
        What was expected there (and, where known, what was found).
    """

    def __init__(self, path: str | os.PathLike | None, field: str, expected: str):
        self.path = None if path is None else str(path)
        self.field = field
        self.expected = expected
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{field}: {expected}")

    def __reduce__(self):
        return (type(self), (self.path, self.field, self.expected))
