"""Subject, text and HTML of a message, from templates merchants can override.

Templates are looked up through Django's template loader, most specific first, so a
merchant overrides any of them by putting a file with the same path in a template
directory listed before the app directories (``TEMPLATES[0]["DIRS"]``)::

    saleor_retention_plugin/messages/<channel-slug>/<flow>/<language>/step_<n>.<part>
    saleor_retention_plugin/messages/<channel-slug>/<flow>/<language>/default.<part>
    saleor_retention_plugin/messages/<flow>/<language>/step_<n>.<part>
    saleor_retention_plugin/messages/<flow>/<language>/default.<part>

``<language>`` is ``en`` or ``zh_hans``; ``<part>`` is ``subject.txt``, ``txt`` or
``html``. A message of a flow's variant B with its own subject (``variant_subject`` in
the context) takes that subject instead of the subject template. The shipped bodies
extend ``saleor_retention_plugin/messages/<language>/base.html`` (the shared layout and
footer with the unsubscribe link), which later lifecycle flows reuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import select_template

from .base import OutgoingMessage, PermanentDeliveryError, TransientDeliveryError
from .language import MessageLanguage, message_language
from .tracking import LinkTracker, track_links

TEMPLATE_ROOT = "saleor_retention_plugin/messages"
PARTS = ("subject.txt", "txt", "html")
HTML_LANG = {MessageLanguage.ENGLISH: "en", MessageLanguage.SIMPLIFIED_CHINESE: "zh-Hans"}
CURRENCY_SYMBOLS = {"USD": "$", "CNY": "¥", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}


@dataclass(frozen=True)
class RenderedMessage:
    language: MessageLanguage
    subject: str
    text: str
    html: str


def template_names(
    channel_slug: str, flow: str, step: int, language: MessageLanguage, part: str
) -> list[str]:
    names = []
    for prefix in (f"{TEMPLATE_ROOT}/{channel_slug}", TEMPLATE_ROOT):
        for kind in (f"step_{step}", "default"):
            names.append(f"{prefix}/{flow}/{language.value}/{kind}.{part}")
    return names


def format_money(amount: Any, currency: str) -> str:
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return f"{amount} {currency}".strip()
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{value:,}" if symbol else f"{value:,} {currency}"


def message_context(
    message: OutgoingMessage, unsubscribe_url: str | None, links: LinkTracker | None = None
) -> dict[str, Any]:
    """The template context: the engine's context plus display-ready money and links.

    With ``links`` (``tracking.message_link_tracker``), every link but the unsubscribe
    link goes through the signed click redirect (``tracking.track_links``).
    """
    language = message_language(message.language)
    context = track_links(message.context, links)
    currency = str(context.get("currency") or "")
    lines = []
    for line in context.get("lines") or []:
        line_currency = str(line.get("currency") or currency)
        quantity = int(line.get("quantity") or 0)
        try:
            line_total: Any = Decimal(str(line.get("unit_price"))) * quantity
        except (InvalidOperation, ValueError):
            line_total = line.get("unit_price")
        lines.append(
            {
                **line,
                "unit_price_display": format_money(line.get("unit_price"), line_currency),
                "line_total_display": format_money(line_total, line_currency),
            }
        )
    context.update(
        lines=lines,
        total_display=format_money(context["total"], currency) if context.get("total") else "",
        unsubscribe_url=unsubscribe_url,
        flow=message.flow,
        step=message.step,
        language=language.value,
        html_lang=HTML_LANG[language],
    )
    return context


def render_message(
    message: OutgoingMessage, *, unsubscribe_url: str | None, links: LinkTracker | None = None
) -> RenderedMessage:
    """Subject, text and HTML; ``links`` tracks the message's links (``message_context``)."""
    language = message_language(message.language)
    context = message_context(message, unsubscribe_url, links)
    rendered = {}
    for part in PARTS:
        names = template_names(message.channel_slug, message.flow, message.step, language, part)
        try:
            rendered[part] = select_template(names).render(context)
        except TemplateDoesNotExist:
            raise PermanentDeliveryError(
                f"No {part} template for flow {message.flow!r}; looked for {', '.join(names)}."
            ) from None
        except TemplateSyntaxError as error:
            # Most likely a merchant's override: the message waits until it is fixed.
            raise TransientDeliveryError(f"A message template is broken: {error}.") from error
    # A subject is one line whatever the template's whitespace. A flow's variant B may
    # bring its own (``services.flow_variants``), already filled: it wins over the template.
    subject = " ".join(
        str(context.get("variant_subject") or "").split() or rendered["subject.txt"].split()
    )
    return RenderedMessage(
        language=language,
        subject=subject,
        text=rendered["txt"].strip() + "\n",
        html=rendered["html"],
    )
