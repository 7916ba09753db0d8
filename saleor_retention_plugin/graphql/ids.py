"""Global ids, Relay style (base64 of ``"<Type>:<pk>"``), checked against the expected type.

An id of another type is an error, never a lookup: a ``Reward`` id sent where a
``LoyaltyAccount`` id is expected must not find account number <pk>.
"""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode

MAX_PK = 2**63 - 1


class InvalidGlobalId(ValueError):
    def __init__(self, message: str, *, zh: str):
        super().__init__(message)
        self.message = message
        self.zh = zh


def _unresolvable(global_id: object) -> InvalidGlobalId:
    return InvalidGlobalId(f"Couldn't resolve id: {global_id}.", zh=f"无法解析 ID：{global_id}。")


def to_global_id(type_name: str, pk: object) -> str:
    return b64encode(f"{type_name}:{pk}".encode()).decode()


def from_global_id(global_id: str, expected_type: str) -> int:
    """The integer pk inside ``global_id``; ``InvalidGlobalId`` with a readable message."""
    try:
        decoded = b64decode(str(global_id).encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _unresolvable(global_id) from None
    type_name, separator, pk = decoded.partition(":")
    if not separator or not pk:
        raise _unresolvable(global_id)
    if type_name != expected_type:
        raise InvalidGlobalId(
            f"Must receive a {expected_type} id.", zh=f"需要 {expected_type} 类型的 ID。"
        )
    # ASCII digits only (str.isdigit accepts other scripts' digits), within PostgreSQL's bigint.
    if not pk.isascii() or not pk.isdigit() or len(pk) > 19 or int(pk) > MAX_PK:
        raise _unresolvable(global_id)
    return int(pk)
