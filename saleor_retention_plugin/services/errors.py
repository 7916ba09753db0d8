"""Errors of the membership and points-mall services, shaped for Saleor-style APIs.

Each carries one or more ``FieldError(field, code, message)``: the GraphQL layer maps them
one to one onto ``errors { field code message }``. Messages are safe to show to users.
Errors a customer can meet (redeeming, birthdays) also carry a Simplified Chinese text;
``message_for(language)`` picks the customer's language and falls back to English.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING

from ..domain.tiers import localised

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class FieldError:
    field: str | None
    code: str
    message: str
    # Other languages than English, e.g. {"zh-Hans": "..."}.
    translations: Mapping[str, str] = dataclass_field(default_factory=dict)

    def message_for(self, language: str | None) -> str:
        return localised({**self.translations, "en": self.message}, language)


class RetentionError(Exception):
    """A request the service refuses; nothing was changed."""

    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        zh: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.translations = {"zh-Hans": zh} if zh else {}
        if code is not None:
            self.code = code

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(self.field, self.code, self.message, self.translations)]

    def message_for(self, language: str | None) -> str:
        """The message in the customer's language (``zh``, ``zh-Hans``, ``zh_CN``...)."""
        return self.errors[0].message_for(language)


class InvalidInput(RetentionError):
    """One or several fields are invalid."""

    code = "invalid"

    def __init__(self, errors: list[FieldError] | dict[str, str], *, code: str = "invalid"):
        if isinstance(errors, dict):
            errors = [FieldError(name, code, message) for name, message in errors.items()]
        self._errors = list(errors)
        first = self._errors[0]
        super().__init__(
            "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in self._errors),
            field=first.field,
            code=first.code,
        )
        self.translations = dict(first.translations)

    @property
    def errors(self) -> list[FieldError]:
        return list(self._errors)


class NotFound(RetentionError):
    code = "not_found"
