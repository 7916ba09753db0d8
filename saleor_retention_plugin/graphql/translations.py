"""Texts the merchant writes in several languages, as the API shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import graphene

if TYPE_CHECKING:
    from collections.abc import Mapping


def language_of(info: Any, explicit: str | None) -> str | None:
    return explicit or getattr(info.context, "language", None)


class Translation(graphene.ObjectType):
    language_code = graphene.String(required=True)
    text = graphene.String(required=True)


def translations(texts: Mapping[str, str] | None) -> list[Translation]:
    return [Translation(language_code=code, text=text) for code, text in (texts or {}).items()]
