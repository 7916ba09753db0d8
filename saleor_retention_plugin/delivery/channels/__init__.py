"""Built-in delivery channels; importing this package registers them in ``base.CHANNELS``."""

from . import email, notify, webhook

__all__ = ["email", "notify", "webhook"]
