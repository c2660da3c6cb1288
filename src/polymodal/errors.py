"""User-facing errors: the CLI prints them as one line and exits with code 2 (no traceback)."""

from __future__ import annotations


class PolymodalError(Exception):
    """Base class for errors caused by user input, data or model files, not by a bug."""


class DataError(PolymodalError):
    """A data file is missing, corrupt or cannot be fetched."""


class InputError(PolymodalError, ValueError):
    """Malformed user input; carries the file and line when there is one."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class ModelError(PolymodalError):
    """A model folder is missing, incomplete, corrupt or of an unsupported version."""
