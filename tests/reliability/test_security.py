"""Customers reach only their own points; links cannot be forged or replayed; staff-only
operations refuse everyone else; a message carries only its own customer's data
(issue 12, security).
"""

from __future__ import annotations

import base64
import time

import pytest
from django.core import mail, signing

from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.delivery.signing import sign_body, verify_signature
from saleor_retention_plugin.delivery.unsubscribe import (
    InvalidUnsubscribeToken,
    read_unsubscribe_token,
    unsubscribe_token,
)
from saleor_retention_plugin.graphql.ids import to_global_id
from saleor_retention_plugin.models import (
    LoyaltyAccount,
    MarketingOptOut,
    MembershipTier,
    PointsEntry,
    Reward,
)
from saleor_retention_plugin.services import ledger, mall
from tests.integration.carts.cart_shop import HOUR, T0, put_cart, sweep, tea_line
from tests.integration.carts.conftest import shop, track  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

ACCOUNT = """
query Account($userId: ID) {
  myLoyaltyAccount { balance email history(first: 50) { edges { node { points } } } }
  loyaltyAccount(userId: $userId) { balance email }
}
"""
REDEEM = """
mutation Redeem($rewardId: ID!, $key: String!) {
  rewardRedeem(rewardId: $rewardId, idempotencyKey: $key) { errors { code } }
}
"""
STAFF_ONLY = {
    "loyaltyPointsAdjust": (
        """mutation Op($userId: ID!) { loyaltyPointsAdjust(input: {userId: $userId, points: 500,
           reason: "gift"}) { errors { code } } }""",
        lambda: PointsEntry.objects.filter(kind="adjust").count(),
    ),
    "rewardCreate": (
        """mutation Op { rewardCreate(input: {kind: FIXED_DISCOUNT,
           name: [{languageCode: "en", text: "Free tea"}], pointsCost: 1,
           discountValue: "100"}) { errors { code } } }""",
        lambda: Reward.objects.count(),
    ),
    "membershipTierCreate": (
        """mutation Op { membershipTierCreate(input: {code: "vip", rank: 9,
           name: [{languageCode: "en", text: "VIP"}], thresholdKind: POINTS_EARNED,
           thresholdValue: "0"}) { errors { code field message } } }""",
        lambda: MembershipTier.objects.count(),
    ),
}


def points_for(customer_id: int, email: str, points: int) -> LoyaltyAccount:
    account = ledger.account_for("main", customer_id, email)
    ledger.adjust_points(
        account.pk,
        points,
        reason="test",
        actor="user:1",
        idempotency_key=f"seed:{customer_id}",
        settings=LedgerSettings(),
    )
    account.refresh_from_db()
    return account


def refused(response, operation: str) -> bool:
    """Refused as the API refuses: a top-level error, or the payload's permission error."""
    if response.status != 200 or response.body.get("errors"):
        return True
    payload = response.body["data"][operation]
    codes = {error["code"].lower() for error in payload["errors"]}
    return bool(codes & {"permission_denied", "unauthenticated"})


def test_a_customer_reads_only_their_own_account(loyalty_api, customer_token):
    ann, bob = customer_token(1001, "ann@example.com"), customer_token(1002, "bob@example.com")
    points_for(1002, "bob@example.com", 700)

    response = loyalty_api.post(ACCOUNT, {"userId": bob.global_user_id}, token=ann.token)

    mine = (response.body.get("data") or {}).get("myLoyaltyAccount")
    assert mine is None or (mine["balance"], mine["email"]) == (0, "ann@example.com")
    assert (response.body.get("data") or {}).get("loyaltyAccount") is None
    assert response.body.get("errors")  # the other customer's account is refused, not empty
    assert "700" not in str(response.body)
    assert "bob@example.com" not in str(response.body)


def test_a_customer_cannot_spend_another_customers_points(loyalty_api, customer_token):
    ann = customer_token(1001, "ann@example.com")
    bob = points_for(1002, "bob@example.com", 700)
    reward = mall.create_reward(
        "main", kind="fixed_discount", name={"en": "10 off"}, points_cost=500, discount_value="10"
    )

    payload = loyalty_api.post(
        REDEEM, {"rewardId": to_global_id("Reward", reward.pk), "key": "k1"}, token=ann.token
    ).data["rewardRedeem"]

    assert [error["code"] for error in payload["errors"]] != []
    bob.refresh_from_db()
    assert bob.balance == 700
    assert not bob.redemptions.exists()


@pytest.mark.parametrize("operation", sorted(STAFF_ONLY))
def test_staff_only_operations_refuse_customers_and_apps_without_the_permission(
    loyalty_api, customer_token, app_token, staff_token, operation
):
    document, rows = STAFF_ONLY[operation]
    target = points_for(1002, "bob@example.com", 10)
    variables = {"userId": to_global_id("User", target.customer_id)}
    before = rows()
    callers = {
        "anonymous": None,
        "customer": customer_token(1001, "ann@example.com").token,
        "app without MANAGE_USERS": app_token(permissions=()).token,
        "staff without MANAGE_USERS": staff_token(permissions=()).token,
    }
    for who, token in callers.items():
        response = loyalty_api.post(document, variables, token=token)
        assert refused(response, operation), (who, response.body)
    assert rows() == before

    # The same operation goes through for staff with the permission: the refusals above
    # are about who asked, not a broken document.
    allowed = loyalty_api.post(document, variables, token=staff_token().token)
    assert not refused(allowed, operation), allowed.body
    assert allowed.body["data"][operation]["errors"] == []
    assert rows() == before + 1


def test_an_unsubscribe_link_cannot_be_rewritten_to_name_someone_else():
    token = unsubscribe_token("main", "ann@example.com", 1001)
    payload = signing.loads(token, salt="saleor_retention_plugin.delivery.unsubscribe")
    forged_payload = {**payload, "e": "bob@example.com", "u": 1002}
    # Re-sign with a key of the attacker's own: the server's key is the only one accepted.
    forged = signing.dumps(
        forged_payload,
        key="not-the-server-key",
        salt="saleor_retention_plugin.delivery.unsubscribe",
        compress=True,
    )
    spliced = base64.urlsafe_b64encode(b'{"c":"main","e":"bob@example.com","u":1002}').decode()
    spliced = spliced.rstrip("=") + ":" + token.rsplit(":", 1)[1]

    for bad in (forged, spliced, token[:-2] + ("AA" if not token.endswith("AA") else "BB")):
        with pytest.raises(InvalidUnsubscribeToken):
            read_unsubscribe_token(bad)
    assert read_unsubscribe_token(token).email == "ann@example.com"
    assert not MarketingOptOut.objects.exists()


def test_a_click_link_cannot_be_rewritten_to_redirect_anywhere_else():
    from datetime import timedelta
    from urllib.parse import unquote

    from django.utils import timezone

    from saleor_retention_plugin.delivery.tracking import (
        CLICK_SALT,
        InvalidTrackingLink,
        TrackedLink,
        click_url,
        read_click_token,
    )

    url = click_url(
        "https://api.tea.example",
        TrackedLink("retention:cart:1", "checkout", "https://tea.example/c", T0 + 3650 * HOUR),
    )
    token = unquote(url.split("token=", 1)[1])
    payload = signing.loads(token, salt=CLICK_SALT)
    forged = signing.dumps(
        {**payload, "t": "https://evil.example/login"},
        key="not-the-server-key",
        salt=CLICK_SALT,
        compress=True,
    )
    spliced = base64.urlsafe_b64encode(
        b'{"m":"retention:cart:1","k":"checkout","t":"https://evil.example/","x":9999999999}'
    ).decode()
    spliced = spliced.rstrip("=") + ":" + token.rsplit(":", 1)[1]
    now = timezone.now()

    for bad in (forged, spliced, token[:-2] + ("AA" if not token.endswith("AA") else "BB")):
        with pytest.raises(InvalidTrackingLink):
            read_click_token(bad, now=now)
    # Genuine, and its life cannot be stretched: past the expiry it records nothing.
    assert read_click_token(token, now=T0).target == "https://tea.example/c"
    with pytest.raises(InvalidTrackingLink):
        read_click_token(token, now=T0 + 3650 * HOUR + timedelta(seconds=1))


def test_a_signed_webhook_cannot_be_forged_or_replayed_once_its_timestamp_is_old():
    secret, body = "s3cret-s3cret-s3cret", b'{"to": "ann@example.com"}'
    now = int(time.time())
    signature = sign_body(secret, now, body)

    assert verify_signature(secret, body, timestamp=str(now), signature=signature)
    assert not verify_signature(
        "another-secret-entirely", body, timestamp=str(now), signature=signature
    )
    assert not verify_signature(secret, body + b" ", timestamp=str(now), signature=signature)
    # Replayed after the tolerance (5 minutes): refused even with its genuine signature.
    old = now - 301
    assert not verify_signature(
        secret, body, timestamp=str(old), signature=sign_body(secret, old, body)
    )


def test_a_reminder_carries_only_its_own_customers_cart_and_contact(track):  # noqa: F811
    carts = {
        "ann@example.com": ("Longjing green tea", "LJ-100"),
        "bob@example.com": ("Pu-erh brick", "PE-357"),
    }
    tokens = {}
    for email, (product, sku) in carts.items():
        token = track(email=email)
        put_cart(token, tea_line(product, sku=sku), email=email)
        tokens[email] = token

    sweep(T0 + HOUR + HOUR)

    assert len(mail.outbox) == 2
    for message in mail.outbox:
        [recipient] = message.to
        alternatives = getattr(message, "alternatives", [])
        text = str(message.body) + "".join(str(part[0]) for part in alternatives)
        text += str(message.extra_headers)
        others = [email for email in carts if email != recipient]
        for other in others:
            product, sku = carts[other]
            for secret in (other, product, sku, tokens[other]):
                assert secret not in text, (recipient, secret)
        assert carts[recipient][0] in text
