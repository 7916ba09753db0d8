from decimal import Decimal
from datetime import datetime, UTC
import pytest
from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.domain.orders import OrderSnapshot
from saleor_retention_plugin.services import ledger

pytestmark = pytest.mark.django_db

def test_it():
    o = OrderSnapshot("o1","1","default","USD","USD",7,"a@b.c","unfulfilled",True,Decimal("10.5"),Decimal("12"),Decimal(0),datetime.now(UTC))
    out = ledger.sync_order_points(o, LedgerSettings())
    assert out.earned == 10
    out = ledger.sync_order_points(o, LedgerSettings())
    assert out.earned == 0
