"""oauthlib's ``RequestValidator`` over caas's OAuth1 tables, as Keystone's ``OAuthValidator``:
the signatures, timestamps and parameters are checked by oauthlib's endpoints; this answers
their questions (which consumer, which token, which secret). Ids and secrets are 32 hex digits
(uuid4), verifiers 8 letters and digits; realms and callbacks are not kept. Nonces are
(``oauth1_nonces``): a request reusing an accepted one is refused (Keystone keeps none).
"""

from __future__ import annotations

import string

from oauthlib.oauth1 import RequestValidator

from caas.identity.oauth1_nonces import MAX_NONCE

VERIFIER_CHARS = "".join(c for c in string.ascii_letters + string.digits if c not in "jiIl1oO0")
HEX = set("abcdef0123456789")
DUMMY = "0" * 32


class Validator(RequestValidator):
    """Answers oauthlib for one request from ``store`` (an ``OAuth1Service``)."""

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store

    enforce_ssl = False  # caas serves plain HTTP on loopback unless a proxy adds TLS
    dummy_client = DUMMY
    dummy_request_token = DUMMY
    dummy_access_token = DUMMY

    @property
    def safe_characters(self):
        return HEX

    @staticmethod
    def _hex32(value: str) -> bool:
        return set(value) <= HEX and len(value) == 32

    def check_client_key(self, client_key):
        return self._hex32(client_key)

    def check_request_token(self, request_token):
        return self._hex32(request_token)

    def check_access_token(self, access_token):
        return self._hex32(access_token)

    def check_nonce(self, nonce):
        return 0 < len(nonce) <= MAX_NONCE and set(nonce) <= set(string.ascii_letters + string.digits)

    def check_verifier(self, verifier):
        return len(verifier) == 8 and all(c in VERIFIER_CHARS for c in verifier)

    # ---- secrets: a dummy for what does not exist, so the signature fails in the same time
    def get_client_secret(self, client_key, request):
        return self.store.consumer_secret(client_key) or DUMMY

    def get_request_token_secret(self, client_key, token, request):
        return self.store.request_token_secret(token) or DUMMY

    def get_access_token_secret(self, client_key, token, request):
        return self.store.access_token_secret(token) or DUMMY

    # ---- what exists and matches
    def validate_client_key(self, client_key, request):
        return self.store.consumer_secret(client_key) is not None

    def validate_request_token(self, client_key, token, request):
        return self.store.request_token_consumer(token) == client_key

    def validate_access_token(self, client_key, token, request):
        return self.store.access_token_consumer(token) == client_key

    def validate_verifier(self, client_key, token, verifier, request):
        return self.store.request_token_verifier(token) == verifier

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request, request_token=None,
                                     access_token=None):
        """Not a replay: no request of this consumer was accepted with this timestamp and nonce
        (the service records them once a request is accepted; oauthlib checked the timestamp)."""
        return not self.store.nonce_seen(client_key, timestamp, nonce)

    # ---- unused by caas: always acceptable, as in Keystone

    def validate_redirect_uri(self, client_key, redirect_uri, request):
        return True

    def validate_requested_realms(self, client_key, realms, request):
        return True

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        return True

    def verify_request_token(self, token, request):
        return isinstance(token, str)

    def verify_realms(self, token, realms, request):
        return True

    def get_default_realms(self, client_key, request):
        return []

    def get_realms(self, token, request):
        return []

    def get_redirect_uri(self, token, request):
        return "oob"

    # ---- tokens are made by the service itself, after oauthlib's check
    def invalidate_request_token(self, client_key, request_token, request):
        pass

    def save_request_token(self, token, request):
        pass

    def save_access_token(self, token, request):
        pass

    def save_verifier(self, token, verifier, request):
        pass
