"""The sandbox starts one OpenBLAS thread unless the user chose a number."""

from __future__ import annotations

import os
import subprocess
import sys

from saleor_retention_plugin.sandbox.main import one_blas_thread


def test_one_blas_thread_by_default(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    one_blas_thread()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"


def test_a_number_the_user_chose_is_kept(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    one_blas_thread()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"


def test_numpy_is_not_loaded_before_the_sandbox_sets_it():
    """OpenBLAS reads the variable once, when NumPy loads: the entry point must not load it."""
    probe = (
        "import sys; import saleor_retention_plugin.sandbox.main; "
        "print(sorted(name for name in ('numpy', 'scipy') if name in sys.modules))"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert loaded == "[]"
