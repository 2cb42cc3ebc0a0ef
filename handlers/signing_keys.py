"""The environment's signing secrets, read from Secrets Manager on first use and again once they are
``SIGNING_SECRET_CACHE_SECONDS`` old: a rotation reaches every warm container within that time, a warm
event makes no call for them, and a cold start makes exactly one.

Failing to read them is ``KeysUnavailable``: in ``required`` mode the validator then answers 503 and
accepts nothing unsigned (fail closed).
"""

import time

from botocore.exceptions import BotoCoreError, ClientError

from handlers import runtime, signature


class KeysUnavailable(Exception):
    """Why the signing secret cannot be used now (for the log line; the sender gets a plain 503)."""


class SigningKeys:
    def __init__(self, clock=time.monotonic):
        self.clock = clock  # replaceable in tests: the cache's age, not the signatures' timestamps
        self._keys = None
        self._read_at = None

    def active(self, secret_arn, cache_seconds, now):
        """The keys that verify at ``now`` (epoch seconds), read again when the cache has expired."""
        if self._keys is None or self.clock() - self._read_at >= cache_seconds:
            self._keys = self._read(secret_arn)
            self._read_at = self.clock()
        keys = signature.active(self._keys, now)
        if not keys:
            raise KeysUnavailable("every signing secret has expired: run tapctl secret rotate")
        return keys

    @staticmethod
    def _read(secret_arn):
        if not secret_arn:
            raise KeysUnavailable("SIGNING_SECRET_ARN is not set")
        try:
            answer = runtime.client("secretsmanager").get_secret_value(SecretId=secret_arn)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise KeysUnavailable("the signing secret has no value yet: run tapctl secret rotate") from None
            raise KeysUnavailable(f"Secrets Manager refused GetSecretValue: {code or error}") from None
        except BotoCoreError as error:
            raise KeysUnavailable(f"Secrets Manager is unreachable: {type(error).__name__}") from None
        try:
            return signature.parse_secret_value(answer.get("SecretString"))
        except ValueError as error:
            raise KeysUnavailable(f"the signing secret is malformed: {error}") from None

    def forget(self):
        self._keys = self._read_at = None


# One per container, like the AWS clients.
keys = SigningKeys()
