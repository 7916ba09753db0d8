"""Errors of the membership and points-mall services, shaped for Saleor-style APIs.

Each carries one or more ``FieldError(field, code, message)``: the GraphQL layer maps them
one to one onto ``errors { field code message }``. Messages are safe to show to users.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str | None
    code: str
    message: str


class RetentionError(Exception):
    """A request the service refuses; nothing was changed."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(self.field, self.code, self.message)]


class InvalidInput(RetentionError):
    """One or several fields are invalid."""

    code = "invalid"

    def __init__(self, errors: list[FieldError] | dict[str, str], *, code: str = "invalid"):
        if isinstance(errors, dict):
            errors = [FieldError(field, code, message) for field, message in errors.items()]
        self._errors = list(errors)
        first = self._errors[0]
        super().__init__(
            "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in self._errors),
            field=first.field,
            code=first.code,
        )

    @property
    def errors(self) -> list[FieldError]:
        return list(self._errors)


class NotFound(RetentionError):
    code = "not_found"
