"""The Saleor product catalogue tells recommendations and reminders what is still sold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from saleor_retention_plugin import app_settings
from saleor_retention_plugin.integrations.saleor.catalogue import SaleorCatalogue
from saleor_retention_plugin.services.recommendations import product_catalogue

pytestmark = pytest.mark.django_db


def test_a_published_priced_product_is_sold_and_named(product, channel_USD):
    now = timezone.now()
    listed = str(product.pk)

    assert SaleorCatalogue().sold(channel_USD.slug, {listed, "987654", "abc"}, now) == {listed}
    assert SaleorCatalogue().names(channel_USD.slug, {listed, "987654"}) == {listed: product.name}
    assert isinstance(product_catalogue(), SaleorCatalogue)
    assert app_settings.PRODUCT_CATALOGUE.endswith("SaleorCatalogue")


def test_an_unpublished_product_is_not_sold(product, channel_USD):
    product.channel_listings.update(is_published=False)

    assert SaleorCatalogue().sold(channel_USD.slug, {str(product.pk)}, timezone.now()) == set()


def test_a_product_not_yet_available_for_purchase_is_not_sold(product, channel_USD):
    now = timezone.now()
    product.channel_listings.update(available_for_purchase_at=now + timedelta(days=1))

    assert SaleorCatalogue().sold(channel_USD.slug, {str(product.pk)}, now) == set()


def test_a_product_without_a_priced_variant_in_the_channel_is_not_sold(product, channel_USD):
    product.variants.first().channel_listings.all().delete()

    assert SaleorCatalogue().sold(channel_USD.slug, {str(product.pk)}, timezone.now()) == set()


def test_another_channel_does_not_sell_it(product, channel_PLN):
    assert SaleorCatalogue().sold(channel_PLN.slug, {str(product.pk)}, timezone.now()) == set()
