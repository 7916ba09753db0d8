"""The holdout is deterministic per cart and channel, and close to the configured share."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain.holdout import is_in_holdout

tokens = st.uuids().map(str)


@given(token=tokens, salt=st.text(max_size=20), percent=st.integers(0, 100))
def test_the_same_cart_always_lands_in_the_same_group(token, salt, percent):
    assert is_in_holdout(token, salt=salt, percent=percent) == is_in_holdout(
        token, salt=salt, percent=percent
    )


@given(token=tokens, salt=st.text(max_size=20))
def test_zero_holds_out_nobody_and_a_hundred_everybody(token, salt):
    assert not is_in_holdout(token, salt=salt, percent=0)
    assert is_in_holdout(token, salt=salt, percent=100)


@given(token=tokens, salt=st.text(max_size=20), low=st.integers(0, 100), high=st.integers(0, 100))
def test_a_larger_holdout_keeps_everyone_a_smaller_one_had(token, salt, low, high):
    low, high = sorted((low, high))
    if is_in_holdout(token, salt=salt, percent=low):
        assert is_in_holdout(token, salt=salt, percent=high)


@pytest.mark.parametrize("percent", [5, 10, 25])
def test_the_share_of_held_out_carts_is_close_to_the_setting(percent):
    carts = [str(uuid.UUID(int=i * 7919 + 13)) for i in range(20_000)]
    held = sum(is_in_holdout(token, salt="tea-cn", percent=percent) for token in carts)
    assert abs(held / len(carts) * 100 - percent) < 1


def test_channels_draw_different_groups():
    carts = [str(uuid.UUID(int=i)) for i in range(2_000)]
    group = {t for t in carts if is_in_holdout(t, salt="cart-holdout:tea-cn", percent=10)}
    other = {t for t in carts if is_in_holdout(t, salt="cart-holdout:tea-us", percent=10)}
    assert group != other


@pytest.mark.parametrize("percent", [-1, 101])
def test_a_share_outside_0_to_100_is_refused(percent):
    with pytest.raises(ValueError, match="percentage"):
        is_in_holdout("token", salt="s", percent=percent)
