"""The sandbox: a small simulated store driving the real services and tasks.

Run it with ``retention-sandbox`` (or ``python -m saleor_retention_plugin.sandbox``).
"""

from .main import main

__all__ = ["main"]
