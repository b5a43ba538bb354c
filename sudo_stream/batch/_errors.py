"""The errors of a batch run."""

from __future__ import annotations

from ..errors import SudoError


class BatchError(SudoError):
    """A batch run cannot go on (its input, its output or its journal)."""


class BatchInputError(BatchError, ValueError):
    """A request of the input is malformed; ``where`` names it (``line 12 of in.jsonl``).

    Raised before anything is sent: the whole input is checked first, so a run never
    stops halfway through on a line that could have been caught up front.
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class DuplicateCustomIdError(BatchInputError):
    """Two requests of the input share a ``custom_id``: their answers could not be told
    apart, and a resumed run could not know which of them was done."""


class BatchOutputError(BatchError, OSError):
    """The output cannot be written (a full or read-only disk, a file that is not a
    batch output). What is already in it stays valid: a rerun resumes from there."""
