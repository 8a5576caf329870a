"""OAuth1 replay protection: the (consumer, timestamp, nonce) of every accepted signed request
(request token, access token, ``oauth1`` authentication) is kept, and a request that reuses one
is refused, as oauthlib's ``RequestValidator.validate_timestamp_and_nonce`` asks a server to
(Keystone answers every such question yes; caas refuses the replay with the answer Keystone gives
any request oauthlib refuses: 401).

A nonce is kept only while oauthlib would accept its timestamp (``timestamp_lifetime``, ten
minutes either side of now): an older one is refused for its timestamp anyway. The expired ones
are purged whenever one is recorded, as revocation events are (``revocation.add_revocation``).
"""

from __future__ import annotations

from oauthlib.oauth1 import RequestValidator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caas.db.engine import insert_if_absent
from caas.identity.credential_models import OAuthNonce

LIFETIME = RequestValidator().timestamp_lifetime  # seconds; oauthlib refuses a timestamp further off
MAX_NONCE = 255  # the column's length (Keystone sets none; oauthlib's clients send 20 to 30 digits)


def seen(s: Session, consumer_id: str, timestamp: str | int, nonce: str) -> bool:
    """Whether a request with this consumer, timestamp and nonce was accepted already."""
    return s.scalar(select(OAuthNonce.nonce).where(
        OAuthNonce.consumer_id == consumer_id, OAuthNonce.timestamp == int(timestamp),
        OAuthNonce.nonce == nonce)) is not None


def remember(s: Session, consumer_id: str, timestamp: str | int, nonce: str, now: float) -> bool:
    """Record an accepted request's nonce in the caller's transaction, purging those past their
    timestamp's lifetime. False when it was recorded already (a replay, or a concurrent twin):
    the caller refuses the request. ``timestamp`` is oauthlib's, checked to be ten digits."""
    s.execute(delete(OAuthNonce).where(OAuthNonce.timestamp < now - LIFETIME))
    return insert_if_absent(s, OAuthNonce, consumer_id=consumer_id, timestamp=int(timestamp), nonce=nonce)
