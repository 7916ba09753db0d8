import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.delivery.signing import sign_body, verify_signature

SECRET = "s3cret-s3cret-s3cret"
NOW = 1_800_000_000


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1800000000." + body, hashlib.sha256).hexdigest()

    assert sign_body(SECRET, NOW, body) == f"sha256={expected}"


@given(body=st.binary(max_size=512))
def test_a_receiver_accepts_what_we_sign(body):
    signature = sign_body(SECRET, NOW, body)
    assert verify_signature(SECRET, body, timestamp=str(NOW), signature=signature, now=NOW + 5)


@pytest.mark.parametrize(
    ("secret", "body", "timestamp", "now"),
    [
        ("another-secret-value", b"{}", NOW, NOW),  # wrong secret
        (SECRET, b'{"a":2}', NOW, NOW),  # body changed in transit
        (SECRET, b"{}", NOW + 1, NOW),  # timestamp changed: it is part of the signed string
        (SECRET, b"{}", NOW, NOW + 301),  # replayed after the tolerance window
    ],
)
def test_a_receiver_rejects_forged_altered_or_replayed_requests(secret, body, timestamp, now):
    signature = sign_body(SECRET, NOW, b"{}")
    assert not verify_signature(
        secret, body, timestamp=str(timestamp), signature=signature, now=now
    )


@pytest.mark.parametrize(("timestamp", "signature"), [(None, "sha256=00"), ("1", None), ("x", "y")])
def test_missing_or_malformed_headers_are_rejected(timestamp, signature):
    assert not verify_signature(SECRET, b"{}", timestamp=timestamp, signature=signature, now=NOW)
