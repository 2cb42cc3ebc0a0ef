"""Standard Webhooks v1 (symmetric) for tapctl's side: new secrets, the environment's secret value, and
the headers a sender puts on a body. The validator verifies with handlers/signature.py; the tests prove
both agree with each other and with the reference implementation (standardwebhooks on PyPI).

The secret value kept in Secrets Manager is a contract (README, "Signed webhooks"):
``{"secrets": [{"secret": "whsec_...", "expires_at": null | <epoch seconds>}, ...]}``, newest first.
"""

import base64
import hashlib
import hmac
import json
import secrets as random
import time

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret():
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(SECRET_BYTES)).decode()


def _key(secret):
    encoded = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def signature(secret, msg_id, timestamp, body):
    """``v1,<base64 HMAC-SHA256>`` of ``{msg_id}.{timestamp}.{body}`` (body: the bytes sent)."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def headers(signing_secrets, body, *, now=None, msg_id=None):
    """The three headers for ``body``, signed with each of ``signing_secrets`` (a rotation signs with the
    new and the old one)."""
    if isinstance(signing_secrets, str):
        signing_secrets = [signing_secrets]
    timestamp = int(time.time() if now is None else now)
    msg_id = msg_id or f"msg_{random.token_hex(12)}"
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, msg_id, timestamp, body) for secret in signing_secrets),
    }


def parse_value(text):
    """The entries of a secret value, newest first; ``ValueError`` when it is not one."""
    try:
        document = json.loads(text)
        entries = document["secrets"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "secret" in e for e in entries):
            raise TypeError
    except (TypeError, ValueError, KeyError):
        raise ValueError('not {"secrets": [{"secret": "whsec_...", "expires_at": ...}, ...]}') from None
    return [{"secret": entry["secret"], "expires_at": entry.get("expires_at")} for entry in entries]


def live(entries, now):
    return [entry for entry in entries if entry["expires_at"] is None or entry["expires_at"] > now]


def rotated(entries, *, now, grace_seconds, secret=None):
    """The value after a rotation: a new secret first; the ones still live kept until ``now + grace``
    at the latest; expired ones dropped."""
    until = int(now + grace_seconds)
    kept = [
        {"secret": entry["secret"], "expires_at": until if entry["expires_at"] is None else min(entry["expires_at"], until)}
        for entry in live(entries, now)
    ]
    kept = [entry for entry in kept if entry["expires_at"] > now]
    return [{"secret": secret or new_secret(), "expires_at": None}] + kept


def value(entries):
    return json.dumps({"secrets": entries}, indent=2)


def curl_command(url, signed_headers, body, source):
    """A shell command that POSTs exactly ``body`` (the bytes signed) with ``signed_headers``. The body goes
    through curl's ``--data-binary @-`` from printf, or ``@file`` when it is not text a shell can quote
    (``source``: the file it was read from, ``<stdin>`` when there is none), never as an argument curl
    would reinterpret (a leading ``@`` uploads a file). ``ValueError`` when it cannot be sent exactly."""
    import os
    import shlex

    parts = ["curl", "-s", "-X", "POST", url]
    if not any(name.lower() == "content-type" for name in signed_headers):
        parts += ["-H", "Content-Type: application/json"]
    for name, value in signed_headers.items():
        parts += ["-H", f"{name}: {value}"]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\0" not in text:
        return f"printf '%s' {shlex.quote(text)} | {shlex.join(parts + ['--data-binary', '@-'])}"
    if source and source != "<stdin>" and os.path.isfile(source):
        return shlex.join(parts + ["--data-binary", "@" + os.path.abspath(source)])
    raise ValueError("the body is not text a shell command can carry exactly (not UTF-8, or a NUL byte): "
                     "give it with --file, and curl reads the file itself")
