"""Reward codes: unguessable, readable, and gift products found by either kind of id."""

import base64

import pytest

from saleor_retention_plugin.integrations.saleor.vouchers import product_pk
from saleor_retention_plugin.services.codes import CODE_ALPHABET, generate_code


def test_codes_are_grouped_for_reading_aloud_and_use_no_lookalike_characters():
    code = generate_code()
    prefix, *groups = code.split("-")
    assert prefix == "PTS"
    assert [len(group) for group in groups] == [4, 4, 4, 4]
    assert set("".join(groups)) <= set(CODE_ALPHABET)
    assert not set("01OIL") & set(CODE_ALPHABET)


def test_ten_thousand_codes_never_repeat():
    assert len({generate_code() for _ in range(10_000)}) == 10_000


def global_id(kind: str, pk: int) -> str:
    return base64.b64encode(f"{kind}:{pk}".encode()).decode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("72", 72),
        (" 72 ", 72),
        (global_id("Product", 72), 72),
        (global_id("Product", 72).rstrip("="), 72),
        (global_id("ProductVariant", 72), None),
        (base64.b64encode(b"Product:abc").decode(), None),
        ("not base64 at all!", None),
        ("", None),
    ],
)
def test_gift_products_are_found_by_number_or_global_id(raw, expected):
    assert product_pk(raw) == expected
