"""The environment's signing secrets, read from Secrets Manager on first use and again once they are
``SIGNING_SECRET_CACHE_SECONDS`` old: a warm event makes no call for them, and a cold start makes one.

A signature that matches none of the keys held makes the container read them again at once (at most
once per ``REFRESH_SECONDS``, so a flood of forgeries costs no more calls): a new secret verifies
within seconds of ``tapctl secret rotate``. A revoked secret, on the other hand, still verifies in a warm
container until its cache runs out, since nothing makes it look; ``tapctl secret rotate --recycle`` ends
that at once by recycling the validator's containers.

Failing to read them is ``KeysUnavailable`` while no keys are held: in ``required`` mode the validator
then answers 503 and accepts nothing unsigned (fail closed). When a re-read fails, the keys held keep
verifying (stale, said in each invocation's log line) and the read is tried again ``REFRESH_SECONDS``
later, instead of answering 503 to every sender during a Secrets Manager incident.
"""

import time

from botocore.exceptions import BotoCoreError, ClientError

from handlers import runtime, signature

REFRESH_SECONDS = 10


class KeysUnavailable(Exception):
    """Why the signing secret cannot be used now (for the log line; the sender gets a plain 503)."""


class SigningKeys:
    def __init__(self, clock=time.monotonic, *, parse=signature.parse_secret_value, name="the signing secret",
                 remedy="tapctl secret rotate"):
        self.clock = clock  # replaceable in tests: the cache's age, not the signatures' timestamps
        self.parse, self.name, self.remedy = parse, name, remedy
        self.forget()

    def active(self, secret_arn, cache_seconds, now):
        """The keys that verify at ``now`` (epoch seconds), read again when the cache has expired."""
        if self._keys is None or self.clock() >= self._next_read:
            self._reload(secret_arn, cache_seconds)
        return self._usable(now)

    def refresh(self, secret_arn, cache_seconds, now):
        """After a signature that matched no key held: the keys read again, or None when they were read (or
        tried) less than ``REFRESH_SECONDS`` ago."""
        if self._tried_at is not None and self.clock() - self._tried_at < REFRESH_SECONDS:
            return None
        self._reload(secret_arn, cache_seconds)
        return self._usable(now)

    @property
    def stale(self):
        """Why the keys held are older than the cache allows (for the log line), or None."""
        return self._stale

    def _reload(self, secret_arn, cache_seconds):
        self._tried_at = self.clock()
        try:
            self._keys = self._read(secret_arn)
        except KeysUnavailable as failure:
            if self._keys is None:
                raise
            self._stale = str(failure)
            self._next_read = self._tried_at + min(REFRESH_SECONDS, cache_seconds)
            return
        self._stale = None
        self._next_read = self._tried_at + cache_seconds

    def _usable(self, now):
        keys = signature.active(self._keys, now)
        if not keys:
            raise KeysUnavailable(f"every key of {self.name} has expired: run {self.remedy}")
        return keys

    def _read(self, secret_arn):
        if not secret_arn:
            raise KeysUnavailable(f"the ARN of {self.name} is not set")
        try:
            answer = runtime.client("secretsmanager").get_secret_value(SecretId=secret_arn)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise KeysUnavailable(f"{self.name} has no value yet: run {self.remedy}") from None
            raise KeysUnavailable(f"Secrets Manager refused GetSecretValue: {code or error}") from None
        except BotoCoreError as error:
            raise KeysUnavailable(f"Secrets Manager is unreachable: {type(error).__name__}") from None
        try:
            parsed = self.parse(answer.get("SecretString"))
        except ValueError as error:
            raise KeysUnavailable(f"{self.name} is malformed: {error}") from None
        self.version = answer.get("VersionId")
        return parsed

    def forget(self):
        self._keys = self._tried_at = self._next_read = self._stale = None
        self.version = None  # the Secrets Manager version the keys held were read from (the archive names it)


# One per container, like the AWS clients: the signing secret's keys, and each source's.
keys = SigningKeys()
_source_keys = {}


def source_keys(name):
    """The keys of source ``name``'s secret (the provider's own secrets: handlers.sources)."""
    found = _source_keys.get(name)
    if found is None:
        from handlers.sources import key_text  # only where a source is served

        found = _source_keys[name] = SigningKeys(
            parse=lambda text: signature.parse_secret_value(text, decode=key_text),
            name=f"the {name} secret", remedy=f"tapctl secret set --source {name}",
        )
    return found


def forget_sources():
    """Forget every source's keys, as a new container would (tests change secrets between cases)."""
    _source_keys.clear()
