"""Constants other modules need without importing their owners (imports nothing of ours)."""

from __future__ import annotations

# The plugin's id in Saleor: part of its URLs and of its stored configuration rows.
PLUGIN_ID = "saleor.retention"

# The cart-reminder flow's name in ``FlowMessage.flow`` and in message template paths.
CART_FLOW = "cart"

# The staff campaigns' flow name (``services.campaign_flow``); an enrolment's cycle is the
# campaign's id.
CAMPAIGN_FLOW = "campaign"
