"""Errors that carry the contract's exit code, so every layer can fail the same way.

Exit codes (docs/contract.md): 0 success; 2 bad usage; 3 some inputs rejected;
4 environment problem; 1 a bug.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_ENVIRONMENT = 4


class PedpainError(Exception):
    """An expected failure with a one-line message for the user."""

    exit_code = EXIT_BUG

    def __init__(self, message: str) -> None:
        # One line only: the CLI prints it as is.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(PedpainError):
    """Bad flags, values or missing input files."""

    exit_code = EXIT_USAGE


class InputsRejected(PedpainError):
    """Some inputs were rejected; the rest was processed and written."""

    exit_code = EXIT_REJECTED


class EnvironmentProblem(PedpainError):
    """No model, database unreachable, missing dependency, unwritable data root."""

    exit_code = EXIT_ENVIRONMENT
