"""The environment's webhook signing secret, kept in Secrets Manager (terraform creates the secret without
a value): its first value, its rotation and reading it, through any target's client."""

import time
from datetime import datetime, timezone

from tapctl import signing
from tapctl.errors import TapctlError


class SigningSecret:
    def __init__(self, client, arn, env, what="signing secret", remedy="tapctl secret rotate"):
        self.client = client
        self.arn = arn
        self.env = env
        self.what = what  # in messages: "the signing secret of dev", "the stripe secret of dev"
        self.remedy = remedy

    @classmethod
    def of(cls, target, outputs, env):
        arn = outputs.get("signing_secret_arn")
        if not arn:
            raise TapctlError(f"environment {env} has no signing secret: deploy it with this version of tapctl first")
        return cls(target.client("secretsmanager"), arn, env)

    @classmethod
    def of_source(cls, target, outputs, env, source):
        """The secret holding ``source``'s provider secrets (tapctl secret set --source)."""
        enabled = outputs.get("webhook_sources") or {}
        if source not in enabled:
            names = ", ".join(sorted(enabled)) or "none"
            raise TapctlError(f"{source} is not a source of {env} (enabled: {names}): add it to [environments.{env}."
                              f"sources] in tapctl.toml and deploy")
        return cls(target.client("secretsmanager"), enabled[source]["secret_arn"], env, f"{source} secret",
                   f"tapctl secret set --source {source}")

    def entries(self):
        """The stored entries, newest first; None while the secret has no value."""
        import botocore.exceptions

        try:
            text = self.client.get_secret_value(SecretId=self.arn)["SecretString"]
        except self.client.exceptions.ResourceNotFoundException:
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            raise TapctlError(f"cannot read the {self.what} of {self.env}: {error}") from None
        try:
            return signing.parse_value(text)
        except ValueError as error:
            raise TapctlError(f"the {self.what} of {self.env} is malformed: {error}") from None

    def _store(self, entries):
        import botocore.exceptions

        try:
            self.client.put_secret_value(SecretId=self.arn, SecretString=signing.value(entries))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            raise TapctlError(f"cannot write the {self.what} of {self.env}: {error}") from None
        return entries

    def ensure(self):
        """The entries, after giving the secret its first value if it has none; (entries, created)."""
        existing = self.entries()
        if existing is not None:
            return existing, False
        return self._store([{"secret": signing.new_secret(), "expires_at": None}]), True

    def rotate(self, grace_seconds, now=None):
        now = time.time() if now is None else now
        return self._store(signing.rotated(self.entries() or [], now=now, grace_seconds=grace_seconds))

    def live(self, now=None):
        """The secrets that verify now, newest first (a sender signs with the first)."""
        entries = self.entries()
        if entries is None:
            raise TapctlError(f"the {self.what} of {self.env} has no value yet: run `{self.remedy} --env {self.env}`")
        found = signing.live(entries, time.time() if now is None else now)
        if not found:
            raise TapctlError(f"every {self.what} of {self.env} has expired: run `{self.remedy} --env {self.env}`")
        return found

    def set(self, secret, keep_previous_seconds, now=None):
        """Make ``secret`` (one the provider gave) the current one; the previous ones keep verifying for
        ``keep_previous_seconds`` while the provider rolls."""
        now = time.time() if now is None else now
        return self._store(signing.rotated(self.entries() or [], now=now, grace_seconds=keep_previous_seconds,
                                           secret=secret))

    def current(self):
        """The secret a sender signs with now."""
        return self.live()[0]["secret"]


def rotate(target, outputs, env, grace_seconds, *, recycle):
    """Make a new secret the current one, keeping the previous one for ``grace_seconds``; returns (the
    entries, how long a revoked secret may still verify in a warm validator: 0 with ``recycle``)."""
    entries = SigningSecret.of(target, outputs, env).rotate(grace_seconds)
    return entries, old_secret_window(target.client("lambda"), outputs["validator_function_name"], recycle=recycle)


# The validator's environment variable and its default (handlers/validator.py; the CLI never imports it).
CACHE_VARIABLE, DEFAULT_CACHE_SECONDS = "SIGNING_SECRET_CACHE_SECONDS", 300
_RECYCLE_MARK = " (containers recycled by tapctl)"


def old_secret_window(lambda_client, validator_name, *, recycle):
    """How long a warm validator may still verify a secret just revoked: its cache window, or 0 once its
    containers are recycled. Recycling publishes a configuration change to the validator (its description)
    and takes it back: Lambda starts the next invocations in new execution environments, whose cold start
    reads the secret, and the configuration is again exactly what terraform deployed (no drift)."""
    import botocore.exceptions

    try:
        configuration = lambda_client.get_function_configuration(FunctionName=validator_name)
        seconds = int(configuration.get("Environment", {}).get("Variables", {}).get(CACHE_VARIABLE,
                                                                                      DEFAULT_CACHE_SECONDS))
        if not recycle:
            return seconds
        description = configuration.get("Description", "")
        waiter = lambda_client.get_waiter("function_updated_v2")
        for value in ((description + _RECYCLE_MARK)[-256:], description):
            lambda_client.update_function_configuration(FunctionName=validator_name, Description=value)
            waiter.wait(FunctionName=validator_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, ValueError) as error:
        raise TapctlError(f"cannot {'recycle' if recycle else 'read'} the validator {validator_name}: {error}") from None
    return 0


def describe_expiry(expires_at, now=None):
    if expires_at is None:
        return "never expires"
    now = time.time() if now is None else now
    moment = datetime.fromtimestamp(expires_at, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    left = int(expires_at - now)
    if left <= 0:
        return f"expired {moment}"
    return f"expires {moment} (in {left // 3600} h {left % 3600 // 60} min)"
