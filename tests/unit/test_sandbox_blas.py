"""The sandbox starts one OpenBLAS thread unless the user chose a number."""

from __future__ import annotations

import os

from saleor_retention_plugin.sandbox.main import one_blas_thread


def test_one_blas_thread_by_default(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    one_blas_thread()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"


def test_a_number_the_user_chose_is_kept(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    one_blas_thread()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
