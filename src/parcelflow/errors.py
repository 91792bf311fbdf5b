"""The one error tree of parcelflow.

::

    ParcelflowError
    ├── TransientError          retry later (durably, with backoff) — timeouts, resets, 429/5xx
    │   └── WorkerCrashed       the process running the job died; counted apart, poison after N
    ├── PermanentError          one attempt only; the job ends ``rejected`` with ``code``
    │   └── QuarantineError     not wrong but not trustworthy; the job ends ``quarantined``
    └── ConfigError             the user must change something; says how (CLI exit 2)

Driver and library errors are translated where they are called, with
``raise ... from exc`` so the original stays chained. Every error carries a short
machine ``code`` (``snake_case``) and a one-line human message.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ParcelflowError",
    "PermanentError",
    "QuarantineError",
    "TransientError",
    "WorkerCrashed",
    "as_parcelflow_error",
    "first_line",
    "one_line",
]


def one_line(text: object, limit: int = 300) -> str:
    """Collapse ``text`` to a single line of at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none), for logs."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ParcelflowError(Exception):
    """Root of every error parcelflow raises on purpose."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code or self.default_code
        self.message = one_line(message)
        # JSON-able facts worth keeping on the job even though it failed
        # (e.g. OCR routing decisions of a quarantined document).
        self.notes: dict[str, object] | None = None
        super().__init__(self.message)

    def with_notes(self, notes: dict[str, object]) -> ParcelflowError:
        """This error, carrying ``notes`` to be recorded on the job."""
        self.notes = notes
        return self

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process-pool boundaries; keep ``code`` and notes when pickled.
        return (_rebuild, (type(self), self.message, self.code, self.notes))


def _rebuild(
    cls: type[ParcelflowError], message: str, code: str, notes: dict[str, object] | None = None
) -> ParcelflowError:
    error = cls(message, code=code)
    error.notes = notes
    return error


class TransientError(ParcelflowError):
    """Worth another attempt later: the cause is expected to go away."""

    default_code = "transient"

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_transient,
            (type(self), self.message, self.code, self.retry_after, self.notes),
        )


def _rebuild_transient(
    cls: type[TransientError],
    message: str,
    code: str,
    retry_after: float | None,
    notes: dict[str, object] | None = None,
) -> TransientError:
    error = cls(message, code=code, retry_after=retry_after)
    error.notes = notes
    return error


class WorkerCrashed(TransientError):
    """The process running the job died (segfault, OOM kill, os._exit)."""

    default_code = "worker_crashed"


class PermanentError(ParcelflowError):
    """Bad input or failed validation: retrying cannot help."""

    default_code = "invalid"


class QuarantineError(PermanentError):
    """Readable but untrustworthy (low confidence, format drift): a person must look."""

    default_code = "needs_review"


class ConfigError(ParcelflowError):
    """A setting or argument is wrong; the message says how to fix it."""

    default_code = "config"


def as_parcelflow_error(exc: BaseException) -> ParcelflowError:
    """Translate any exception a stage raised into the error tree.

    Time-outs and connection failures are transient; anything else that is not
    already a :class:`ParcelflowError` is a bug or an input the code did not
    foresee, and is rejected as ``unexpected_error`` with its type named.
    """
    if isinstance(exc, ParcelflowError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, TimeoutError | ConnectionError):
        return TransientError(
            f"{name}: {exc}", code="timeout" if isinstance(exc, TimeoutError) else "connection"
        )
    if isinstance(exc, MemoryError):
        return TransientError("out of memory", code="out_of_memory")
    return PermanentError(f"{name}: {exc}", code="unexpected_error")
