"""The points mall against PostgreSQL: atomic redemptions, stock, limits, windows, expiry."""

from __future__ import annotations

import functools
import threading
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connection
from django.utils import timezone

from saleor_retention_plugin.conf import MembershipSettings
from saleor_retention_plugin.domain import draws
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry, Redemption, Reward
from saleor_retention_plugin.services import ledger, mall
from saleor_retention_plugin.services.codes import CODE_ALPHABET, PlainCodeIssuer
from saleor_retention_plugin.services.errors import InvalidInput, RetentionError
from saleor_retention_plugin.tasks import expire_reward_codes_task
from tests.integration.membership_factories import CHANNEL

if TYPE_CHECKING:
    from collections.abc import Callable

ISSUER = PlainCodeIssuer()


@pytest.fixture
def reward_factory() -> Callable[..., Reward]:
    def make(**fields: Any) -> Reward:
        values: dict[str, Any] = {
            "kind": "fixed_discount",
            "name": {"en": "10 off", "zh-Hans": "立减 10 元"},
            "points_cost": 500,
            "discount_value": "10",
        }
        channel_slug = fields.pop("channel_slug", CHANNEL)
        values.update(fields)
        return mall.create_reward(channel_slug, **values)

    return make


def snapshot(account: LoyaltyAccount, reward: Reward | None = None) -> tuple:
    account.refresh_from_db()
    stock = Reward.objects.get(pk=reward.pk).stock if reward else None
    return (
        account.balance,
        stock,
        Redemption.objects.count(),
        PointsEntry.objects.filter(account=account).count(),
    )


def redeem(account: LoyaltyAccount, reward: Reward | int, key: str = "key-1", **kwargs: Any):
    reward_id = reward.pk if isinstance(reward, Reward) else reward
    return mall.redeem_reward(account, reward_id, key, issuer=ISSUER, **kwargs)


@pytest.mark.django_db
class TestRedeeming:
    def test_redeeming_spends_the_points_and_issues_a_code_in_one_step(
        self, account_with_points, reward_factory
    ):
        account = account_with_points(800)
        reward = reward_factory(stock=5)
        now = timezone.now()
        redemption = redeem(account, reward, now=now)
        account.refresh_from_db()
        assert account.balance == 300
        assert redemption.status == Redemption.Status.ISSUED
        assert redemption.points_entry.points == -500
        assert redemption.points_entry.kind == PointsEntry.Kind.REDEEM
        assert redemption.issued_kind == "fixed_discount"
        assert redemption.issued_value == Decimal(10)
        assert redemption.expires_at == now + timedelta(days=30)
        assert redemption.refund_on_expiry is True
        assert Reward.objects.get(pk=reward.pk).stock == 4
        body = redemption.code.removeprefix("PTS-").replace("-", "")
        assert len(body) == 16
        assert set(body) <= set(CODE_ALPHABET)

    def test_codes_never_repeat(self, account_with_points, reward_factory):
        account = account_with_points(100 * 10)
        reward = reward_factory(points_cost=10)
        codes = {redeem(account, reward, key=f"k{i}").code for i in range(100)}
        assert len(codes) == 100

    def test_a_reward_may_set_its_own_code_validity(self, account_with_points, reward_factory):
        account = account_with_points(500)
        now = timezone.now()
        redemption = redeem(account, reward_factory(code_validity_days=7), now=now)
        assert redemption.expires_at == now + timedelta(days=7)

    @pytest.mark.parametrize(
        ("kind", "fields", "issued_value"),
        [
            ("percentage_discount", {"discount_value": "15"}, Decimal(15)),
            ("free_shipping", {"discount_value": None}, None),
            ("gift_product", {"discount_value": None, "gift_product_id": "UHJvZHVjdDo3Mg=="}, None),
        ],
    )
    def test_every_kind_of_reward_issues_a_code(
        self, account_with_points, reward_factory, kind, fields, issued_value
    ):
        reward = reward_factory(kind=kind, **fields)
        redemption = redeem(account_with_points(500), reward)
        assert redemption.issued_kind == kind
        assert redemption.issued_value == issued_value
        assert redemption.code

    def test_the_same_key_again_returns_the_first_redemption_and_spends_nothing(
        self, account_with_points, reward_factory
    ):
        account = account_with_points(2000)
        reward = reward_factory()
        first = redeem(account, reward)
        before = snapshot(account, reward)
        again = redeem(account, reward)
        replayed, created = mall.redeem_or_replay(account, reward.pk, "key-1", issuer=ISSUER)
        assert again.pk == first.pk
        assert (replayed.pk, created) == (first.pk, False)
        assert again.code == first.code
        assert snapshot(account, reward) == before

    @pytest.mark.parametrize(
        ("setup", "error", "code"),
        [
            (lambda r: {"reward_id": 10**9}, mall.RewardNotFound, "not_found"),
            (lambda r: {"reward_id": "abc"}, mall.RewardNotFound, "not_found"),
            (lambda r: {"reward_id": -1}, mall.RewardNotFound, "not_found"),
            (lambda r: {"reward_id": 1.5}, mall.RewardNotFound, "not_found"),
            (lambda r: {"reward_id": None}, mall.RewardNotFound, "not_found"),
            (
                lambda r: {"update": {"is_active": False}},
                mall.RewardUnavailable,
                "reward_unavailable",
            ),
            (
                lambda r: {"update": {"active_from": timezone.now() + timedelta(days=1)}},
                mall.RewardUnavailable,
                "reward_unavailable",
            ),
            (
                lambda r: {
                    "update": {
                        "active_from": timezone.now() - timedelta(days=9),
                        "active_until": timezone.now() - timedelta(days=1),
                    }
                },
                mall.RewardUnavailable,
                "reward_unavailable",
            ),
            (lambda r: {"update": {"stock": 0}}, mall.OutOfStock, "out_of_stock"),
            (
                lambda r: {"update": {"points_cost": 1001}},
                mall.InsufficientPoints,
                "insufficient_points",
            ),
            (lambda r: {"key": ""}, InvalidInput, "required"),
            (lambda r: {"key": "   "}, InvalidInput, "required"),
            (lambda r: {"key": "x" * 101}, InvalidInput, "invalid"),
            (lambda r: {"key": None}, InvalidInput, "required"),
        ],
    )
    def test_refused_redemptions_change_nothing(
        self, account_with_points, reward_factory, setup, error, code
    ):
        account = account_with_points(1000)
        reward = reward_factory(stock=3)
        case = setup(reward)
        if "update" in case:
            mall.update_reward(reward.pk, **case["update"])
        before = snapshot(account, reward)
        with pytest.raises(error) as raised:
            mall.redeem_reward(
                account, case.get("reward_id", reward.pk), case.get("key", "key-1"), issuer=ISSUER
            )
        assert raised.value.code == code
        assert raised.value.message
        # Customers read it in English or Simplified Chinese.
        assert raised.value.message_for("en") == raised.value.errors[0].message
        assert any("\u4e00" <= ch <= "\u9fff" for ch in raised.value.message_for("zh-CN"))
        assert snapshot(account, reward) == before

    def test_another_channels_reward_is_not_found(self, account_with_points, reward_factory):
        account = account_with_points(1000)
        elsewhere = reward_factory(channel_slug="other")
        with pytest.raises(mall.RewardNotFound):
            redeem(account, elsewhere)

    def test_pending_points_cannot_buy_rewards(self, reward_factory):
        from saleor_retention_plugin.conf import LedgerSettings
        from tests.integration.membership_factories import make_order

        ledger.sync_order_points(make_order(amount="800"), LedgerSettings(pending_days=14))
        account = ledger.account_for(CHANNEL, 1, None)
        with pytest.raises(mall.InsufficientPoints, match="0 available"):
            redeem(account, reward_factory())

    def test_the_per_customer_limit(self, account_with_points, reward_factory):
        account = account_with_points(5000)
        other = account_with_points(5000, customer_id=2)
        reward = reward_factory(per_customer_limit=2)
        redeem(account, reward, key="a")
        redeem(account, reward, key="b")
        with pytest.raises(mall.LimitReached, match="2 time"):
            redeem(account, reward, key="c")
        redeem(other, reward, key="a")  # the limit is per customer

    def test_a_merged_or_anonymised_account_cannot_redeem(
        self, account_with_points, reward_factory
    ):
        account = account_with_points(1000)
        ledger.anonymise_customer(account.customer_id)
        with pytest.raises(RetentionError, match="No such loyalty account"):
            redeem(account, reward_factory())


@pytest.mark.django_db
class TestCatalogue:
    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"points_cost": -5}, "points_cost"),
            ({"points_cost": 0}, "points_cost"),
            ({"points_cost": 1.5}, "points_cost"),
            ({"points_cost": "1.5"}, "points_cost"),
            ({"points_cost": "abc"}, "points_cost"),
            ({"points_cost": 10**12}, "points_cost"),
            ({"points_cost": "99999999999999999999"}, "points_cost"),
            ({"points_cost": None}, "points_cost"),
            ({"points_cost": True}, "points_cost"),
            ({"points_cost": float("nan")}, "points_cost"),
            ({"discount_value": "0"}, "discount_value"),
            ({"discount_value": "-10"}, "discount_value"),
            ({"discount_value": None}, "discount_value"),
            ({"discount_value": "ten"}, "discount_value"),
            ({"kind": "percentage_discount", "discount_value": "101"}, "discount_value"),
            ({"kind": "free_shipping", "discount_value": "5"}, "discount_value"),
            ({"kind": "gift_product", "discount_value": None}, "gift_product_id"),
            ({"kind": "cash"}, "kind"),
            ({"name": {}}, "name"),
            ({"stock": -1}, "stock"),
            ({"stock": "many"}, "stock"),
            ({"per_customer_limit": 0}, "per_customer_limit"),
            ({"code_validity_days": 0}, "code_validity_days"),
            ({"active_from": "tomorrow"}, "active_from"),
            (
                {
                    "active_from": timezone.now(),
                    "active_until": timezone.now() - timedelta(days=1),
                },
                "active_until",
            ),
            ({"draw_prizes": [{"code": "x"}]}, "draw_prizes"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_bad_rewards_are_refused_with_the_field_named(self, reward_factory, fields, field):
        with pytest.raises(InvalidInput) as error:
            reward_factory(**fields)
        assert field in {e.field for e in error.value.errors}
        assert not Reward.objects.exists()

    def test_whole_numbers_as_text_are_fine(self, reward_factory):
        assert reward_factory(points_cost="750").points_cost == 750

    def test_the_catalogue_shows_what_can_be_redeemed_now(self, reward_factory):
        now = timezone.now()
        available = reward_factory(points_cost=100)
        reward_factory(is_active=False)
        reward_factory(stock=0)
        reward_factory(active_from=now + timedelta(days=1))
        reward_factory(channel_slug="other")
        assert list(mall.rewards_of_channel(CHANNEL, now=now)) == [available]
        assert mall.rewards_of_channel(CHANNEL, available_only=False).count() == 4

    def test_a_redeemed_reward_is_deactivated_instead_of_deleted(
        self, account_with_points, reward_factory
    ):
        redeemed = reward_factory()
        redeem(account_with_points(500), redeemed)
        unused = reward_factory()
        assert mall.delete_reward(redeemed.pk) is False
        assert Reward.objects.get(pk=redeemed.pk).is_active is False
        assert mall.delete_reward(unused.pk) is True
        assert not Reward.objects.filter(pk=unused.pk).exists()


@pytest.mark.django_db
class TestPrizeDraws:
    @pytest.fixture
    def draw_reward(self, reward_factory):
        def make(prizes: list[dict[str, Any]], **fields: Any) -> Reward:
            return reward_factory(
                kind="prize_draw",
                discount_value=None,
                points_cost=50,
                draw_prizes=prizes,
                name={"en": "Lucky draw", "zh-Hans": "积分抽奖"},
                **fields,
            )

        return make

    def test_every_draw_can_be_verified_from_the_published_seed(
        self, account_with_points, draw_reward
    ):
        reward = draw_reward(
            [
                {
                    "code": "big",
                    "name": {"en": "50 off"},
                    "kind": "fixed_discount",
                    "discount_value": "50",
                    "probability": "0.1",
                },
                {
                    "code": "ship",
                    "name": {"en": "Free shipping"},
                    "kind": "free_shipping",
                    "probability": "0.4",
                },
            ]
        )
        assert reward.draw_seed_hash == draws.seed_hash(reward.draw_seed)
        account = account_with_points(50 * 60)
        entries = [redeem(account, reward, key=f"draw-{i}") for i in range(60)]
        seed = mall.reveal_draw_seed(reward.pk)
        assert all(mall.verify_draw(entry, seed) for entry in entries)
        assert not any(mall.verify_draw(entry, draws.new_seed()) for entry in entries)
        # Each customer can see their own key went into their roll.
        assert all(
            draws.nonce_includes_key(entry.draw_audit, f"draw-{i}")
            for i, entry in enumerate(entries)
        )
        outcomes = {entry.draw_audit["prize"] for entry in entries}
        assert outcomes == {"big", "ship", None}  # 60 draws at 10/40/50%: all three show
        for entry in entries:
            if entry.draw_audit["prize"] is None:
                assert entry.status == Redemption.Status.NO_PRIZE
                assert entry.code is None
            else:
                assert entry.status == Redemption.Status.ISSUED
                assert (
                    entry.issued_kind
                    == {"big": "fixed_discount", "ship": "free_shipping"}[entry.draw_audit["prize"]]
                )
        account.refresh_from_db()
        assert account.balance == 0  # a losing entry still costs its points

    def test_a_prize_quantity_is_honoured(self, account_with_points, draw_reward):
        reward = draw_reward(
            [
                {
                    "code": "tv",
                    "name": {"en": "TV"},
                    "kind": "gift_product",
                    "gift_product_id": "UHJvZHVjdDox",
                    "probability": "1",
                    "quantity": 1,
                }
            ]
        )
        account = account_with_points(100)
        first, second = redeem(account, reward, key="a"), redeem(account, reward, key="b")
        assert first.draw_audit["prize"] == "tv"
        assert second.draw_audit["prize"] is None
        assert second.draw_audit["odds"][0]["available"] is False
        assert mall.verify_draw(second, mall.reveal_draw_seed(reward.pk))

    @pytest.mark.parametrize(
        "prizes",
        [
            [],
            [
                {"code": "a", "name": {"en": "A"}, "kind": "free_shipping", "probability": "0.7"},
                {"code": "b", "name": {"en": "B"}, "kind": "free_shipping", "probability": "0.7"},
            ],
            [{"code": "a", "name": {"en": "A"}, "kind": "free_shipping", "probability": "-0.1"}],
            [{"code": "a", "name": {"en": "A"}, "kind": "prize_draw", "probability": "0.1"}],
            [{"code": "a", "name": {"en": "A"}, "kind": "fixed_discount", "probability": "0.1"}],
            [
                {"code": "a", "name": {"en": "A"}, "kind": "free_shipping", "probability": "0.1"},
                {"code": "a", "name": {"en": "A"}, "kind": "free_shipping", "probability": "0.1"},
            ],
        ],
    )
    def test_impossible_prize_pools_are_refused(self, draw_reward, prizes):
        with pytest.raises(InvalidInput) as error:
            draw_reward(prizes)
        assert error.value.field == "draw_prizes"


@pytest.mark.django_db
class TestExpiry:
    def test_an_unused_expired_code_gives_its_points_and_stock_back(
        self, account_with_points, reward_factory
    ):
        account = account_with_points(500)
        reward = reward_factory(stock=1)
        now = timezone.now()
        redemption = redeem(account, reward, now=now)
        report = mall.expire_unused_codes(issuer=ISSUER, now=now + timedelta(days=31))
        assert (report.refunded, report.points_refunded) == (1, 500)
        redemption.refresh_from_db()
        account.refresh_from_db()
        assert redemption.status == Redemption.Status.REFUNDED
        assert redemption.refund_entry.points == 500
        assert account.balance == 500
        assert Reward.objects.get(pk=reward.pk).stock == 1
        again = mall.expire_unused_codes(issuer=ISSUER, now=now + timedelta(days=32))
        assert again.refunded == 0
        account.refresh_from_db()
        assert account.balance == 500

    def test_without_refunds_the_code_just_expires(self, account_with_points, reward_factory):
        account = account_with_points(500)
        now = timezone.now()
        redemption = redeem(
            account,
            reward_factory(),
            now=now,
            settings=MembershipSettings(refund_expired_reward_codes=False),
        )
        report = mall.expire_unused_codes(issuer=ISSUER, now=now + timedelta(days=31))
        assert report.expired == 1
        redemption.refresh_from_db()
        account.refresh_from_db()
        assert redemption.status == Redemption.Status.EXPIRED
        assert account.balance == 0

    def test_a_used_code_is_never_refunded(self, account_with_points, reward_factory):
        account = account_with_points(500)
        now = timezone.now()
        redemption = redeem(account, reward_factory(), now=now)
        mall.mark_code_used(redemption.code)
        report = mall.expire_unused_codes(issuer=ISSUER, now=now + timedelta(days=31))
        assert report.refunded == 0
        account.refresh_from_db()
        assert account.balance == 0

    def test_a_code_not_yet_expired_is_left_alone(self, account_with_points, reward_factory):
        account = account_with_points(500)
        now = timezone.now()
        redeem(account, reward_factory(), now=now)
        assert mall.expire_unused_codes(issuer=ISSUER, now=now + timedelta(days=29)).refunded == 0

    def test_a_refunded_redemption_does_not_count_towards_the_limit(
        self, account_with_points, reward_factory
    ):
        account = account_with_points(1000)
        reward = reward_factory(per_customer_limit=1)
        now = timezone.now()
        redeem(account, reward, key="first", now=now)
        mall.expire_unused_codes(issuer=ISSUER, now=now + timedelta(days=31))
        assert redeem(account, reward, key="second").status == Redemption.Status.ISSUED

    def test_the_periodic_task_runs_the_expiry(self, account_with_points, reward_factory):
        redemption = redeem(account_with_points(500), reward_factory())
        Redemption.objects.filter(pk=redemption.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert expire_reward_codes_task.delay().get()["refunded"] == 1
        redemption.refresh_from_db()
        assert redemption.status == Redemption.Status.REFUNDED


# --- concurrency: real concurrent connections -----------------------------------------------


def run_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread (own DB connection), released together."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as error:  # collected and asserted by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def outcomes(results: list[Any]) -> list[str]:
    return sorted(type(r).__name__ for r in results)


@pytest.mark.django_db(transaction=True)
class TestConcurrentRedemptions:
    def test_the_last_item_in_stock_goes_to_one_customer(self, account_with_points, reward_factory):
        reward = reward_factory(stock=1)
        buyers = [account_with_points(500, customer_id=c) for c in range(1, 5)]
        results = run_at_once([functools.partial(redeem, a, reward) for a in buyers])
        assert outcomes(results) == ["OutOfStock", "OutOfStock", "OutOfStock", "Redemption"]
        assert Reward.objects.get(pk=reward.pk).stock == 0
        assert sum(LoyaltyAccount.objects.get(pk=a.pk).balance for a in buyers) == 1500

    def test_two_rewards_at_once_cannot_overspend(self, account_with_points, reward_factory):
        account = account_with_points(500)
        first, second = reward_factory(), reward_factory()
        results = run_at_once(
            [lambda: redeem(account, first, key="a"), lambda: redeem(account, second, key="b")]
        )
        assert outcomes(results) == ["InsufficientPoints", "Redemption"]
        account.refresh_from_db()
        assert account.balance == 0
        assert Redemption.objects.count() == 1

    def test_the_same_redemption_sent_twice_at_once_spends_once(
        self, account_with_points, reward_factory
    ):
        account = account_with_points(5000)
        reward = reward_factory()
        results = run_at_once([lambda: redeem(account, reward, key="same")] * 4)
        assert outcomes(results) == ["Redemption"] * 4
        account.refresh_from_db()
        assert account.balance == 4500
        assert len({r.pk for r in results}) == 1

    def test_the_per_customer_limit_holds_under_concurrency(
        self, account_with_points, reward_factory
    ):
        account = account_with_points(5000)
        reward = reward_factory(per_customer_limit=1)
        results = run_at_once([functools.partial(redeem, account, reward, key=k) for k in "abc"])
        assert outcomes(results) == ["LimitReached", "LimitReached", "Redemption"]
        account.refresh_from_db()
        assert account.balance == 4500


@pytest.mark.django_db
def test_a_redemption_is_announced_after_commit(
    account_with_points, reward_factory, django_capture_on_commit_callbacks
):
    from saleor_retention_plugin.signals import reward_redeemed

    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    account = account_with_points(500)
    reward = reward_factory()
    reward_redeemed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            redemption = redeem(account, reward)
    finally:
        reward_redeemed.disconnect(receiver)
    assert heard == [
        {
            "signal": reward_redeemed,
            "account_id": account.pk,
            "channel_slug": CHANNEL,
            "customer_id": account.customer_id,
            "redemption_id": redemption.pk,
            "reward_id": reward.pk,
            "points": 500,
            "status": "issued",
        }
    ]
