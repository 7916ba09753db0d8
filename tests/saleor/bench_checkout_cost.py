"""The measuring run of ``benchmarks/saleor_checkout.py`` (not collected by the tier: its
name does not start with ``test_``). Saleor's fixtures only exist inside pytest, so the
benchmark runs this one item and reads what it writes to ``RETENTION_CHECKOUT_BENCH_OUT``.
"""

import json
import os

import pytest

from .checkout_cost import summarise
from .test_checkout_cost import bench  # noqa: F401  (the fixture)


@pytest.mark.django_db(transaction=True)  # real commits, as in test_checkout_cost.py
def test_measure_checkout_cost(bench):  # noqa: F811
    pairs = int(os.environ.get("RETENTION_CHECKOUT_BENCH_PAIRS", "30"))
    modes = os.environ.get("RETENTION_CHECKOUT_BENCH_MODES", "inline,queued").split(",")
    results = {mode: summarise(mode, bench.run(pairs, mode=mode)).as_json() for mode in modes}
    with open(os.environ["RETENTION_CHECKOUT_BENCH_OUT"], "w") as out:
        json.dump(results, out)
