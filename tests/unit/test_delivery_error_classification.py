"""Which failures the outbox retries (transient) and which it gives up on (permanent)."""

import smtplib
import ssl

import pytest

from saleor_retention_plugin.delivery.base import PermanentDeliveryError, TransientDeliveryError
from saleor_retention_plugin.delivery.channels.email import classify_smtp_error
from saleor_retention_plugin.delivery.channels.webhook import classify_http_status


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        smtplib.SMTPConnectError(421, b"Too busy"),
        smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"Mailbox busy")}),
        smtplib.SMTPSenderRefused(451, b"Try later", "shop@example.com"),
        smtplib.SMTPDataError(452, b"Insufficient storage"),
        smtplib.SMTPAuthenticationError(535, b"Bad credentials"),
        ssl.SSLError("handshake failed"),
        smtplib.SMTPRecipientsRefused(
            {"a@example.com": (550, b"No such user"), "b@example.com": (451, b"Later")}
        ),
    ],
    ids=lambda error: type(error).__name__,
)
def test_smtp_failures_that_may_pass_later_are_transient(error):
    assert isinstance(classify_smtp_error(error), TransientDeliveryError)


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"5.1.1 No such user")}),
        smtplib.SMTPRecipientsRefused({"a@example.com": (553, b"Mailbox name not allowed")}),
        smtplib.SMTPDataError(554, b"Message rejected as spam"),
        smtplib.SMTPSenderRefused(550, b"Sender not allowed", "shop@example.com"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_smtp_5xx_refusals_are_permanent_and_say_why(error):
    classified = classify_smtp_error(error)
    assert isinstance(classified, PermanentDeliveryError)
    assert "5" in classified.reason


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_webhook_server_errors_and_throttling_are_transient(status):
    with pytest.raises(TransientDeliveryError, match=str(status)):
        classify_http_status(status, "oops")


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 422])
def test_webhook_client_errors_are_permanent(status):
    with pytest.raises(PermanentDeliveryError, match=str(status)):
        classify_http_status(status, "no")


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_webhook_2xx_is_delivered(status):
    classify_http_status(status, "")  # raises for anything that was not delivered
