"""Refusals of the study's rules. Each is a :class:`pedpain.core.errors.PedpainError`
(exit code for the CLI) that also carries the HTTP status and error code the web app
answers with, so a handler never decides them itself."""

from __future__ import annotations

from pedpain.core.errors import InputsRejected, UsageError


class NotFound(UsageError):
    """A child, session or file that does not exist (or not where the caller says)."""

    http_status = 404
    error_code = "not_found"


class Conflict(UsageError):
    """The request clashes with what is already recorded (a second rating, a duplicate
    submission, a code already enrolled)."""

    http_status = 409
    error_code = "conflict"


class Forbidden(UsageError):
    """Allowed to the role in general, but not here (a rater's own rating only, an admin
    locking themselves out)."""

    http_status = 403
    error_code = "forbidden"


class MediaRefused(InputsRejected):
    """An upload that is not a readable photo or clip (415) or is too large (413)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.http_status = 413 if status == "too_large" else 415
        self.error_code = "upload_too_large" if status == "too_large" else "upload_type"


def http_of(exc: Exception) -> tuple[int, str]:
    """The HTTP status and error code of a refusal (400 ``bad_input`` unless it says)."""
    return int(getattr(exc, "http_status", 400)), str(getattr(exc, "error_code", "bad_input"))
