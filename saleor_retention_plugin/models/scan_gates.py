"""The engine's scan gates: what the last complete scan of a scan-started flow saw.

One row per flow (``services.scan_gates``). ``generation`` counts the changes of the
flow's inputs (``inputs``, ",topic,topic,"): a service writing one of them bumps it in
its own transaction. ``scanned_generation`` is the generation a complete scan started
from, ``quiet_until`` the moment before which, at that generation, the scan cannot find
anything new (null: only an input change can make it), ``signature`` the code and
settings the scan ran with. A row that is missing, or whose generation or signature
moved, lets the next sweep scan: a lost or stale row costs a scan, never a missed one.
"""

from __future__ import annotations

from django.db import models


class ScanGate(models.Model):
    flow = models.CharField(max_length=64, unique=True)
    inputs = models.CharField(max_length=255, default="")
    generation = models.BigIntegerField(default=0)
    scanned_generation = models.BigIntegerField(null=True, blank=True)
    signature = models.CharField(max_length=255, blank=True, default="")
    quiet_until = models.DateTimeField(null=True, blank=True)
    scanned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"scan gate of {self.flow} (generation {self.generation})"
