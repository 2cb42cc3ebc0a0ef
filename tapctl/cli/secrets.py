"""The commands of the environment's webhook signing secret (show, rotate, sign a body with it) and of the
payment providers' secrets (set)."""

import time

import click

from tapctl.cli.group import deployed, main
from tapctl.config import SOURCES
from tapctl.console import emit
from tapctl.errors import TapctlError, UsageError
from tapctl.options import Duration, environment_options


@main.group()
def secret():
    """The environment's webhook signing secret (Standard Webhooks): show it, rotate it."""


def _signing_secret(settings):
    from tapctl.signing_secret import SigningSecret
    return SigningSecret.of(*deployed(settings), settings.env)


def _show_secret(settings, entries, heading, note=None, **extra):
    from tapctl.signing import live
    from tapctl.signing_secret import describe_expiry

    current = live(entries, time.time())
    lines = [heading, f"sign with: {current[0]['secret'] if current else '(none: every secret has expired)'}"]
    lines += [f"  {entry['secret']}  {describe_expiry(entry['expires_at'])}" for entry in entries]
    lines += [note] if note else []
    emit(settings, {"environment": settings.env, "current": current[0]["secret"] if current else None,
                    "secrets": entries, **extra}, lines)


@secret.command("show")
@environment_options
def secret_show(settings):
    """Print the current signing secret and each key's expiry, for configuring the sender.

    Example: tapctl secret show --env dev --json
    """
    signing_secret = _signing_secret(settings)
    entries = signing_secret.entries()
    if entries is None:
        raise TapctlError(f"the signing secret of {settings.env} has no value yet: run `tapctl secret rotate --env "
                          f"{settings.env}`")
    _show_secret(settings, entries, f"{settings.env}: webhook signing secrets, newest first")


@secret.command("rotate")
@environment_options
@click.option("--grace", type=Duration(), default="24h", show_default=True,
              help="How long the previous secret keeps verifying while senders switch (0 revokes it).")
@click.option("--recycle", is_flag=True,
              help="Recycle the validator's warm containers, so a revoked secret stops verifying at once.")
def secret_rotate(settings, grace, recycle):
    """Make a new signing secret the current one; keep the previous one for the grace period.

    Senders sign with the new secret from now on (or with both, as Standard Webhooks allows); it verifies
    within seconds. A revoked secret (--grace 0s) still verifies in a warm validator until its cache runs
    out (signing_secret_cache_seconds) unless --recycle. Example: tapctl secret rotate --env prod --grace 0s --recycle
    """
    from tapctl import signing_secret
    entries, window = signing_secret.rotate(*deployed(settings), settings.env, grace, recycle=recycle)
    note = (f"a revoked secret may still verify in a warm validator for up to {window} s (its cache, "
            "signing_secret_cache_seconds); --recycle ends that at once" if window else
            "the validator's containers were recycled: a revoked secret verifies nowhere now")
    _show_secret(settings, entries, f"{settings.env}: rotated; give the new secret to your senders", note,
                 old_secret_verifies_for_seconds=window)


@secret.command("set")
@environment_options
@click.option("--source", required=True, type=click.Choice(SOURCES), help="The payment provider whose secret this is.")
@click.option("--file", "secret_file", type=click.File("r"), default="-", show_default=True,
              help="Where to read the provider's secret ('-' reads standard input): never an argument, so it stays "
                   "out of shell history and process lists.")
@click.option("--keep-previous", type=Duration(), default="0s", show_default=True,
              help="How long the secret it replaces keeps verifying while the provider rolls to the new one.")
def secret_set(settings, source, secret_file, keep_previous):
    """Store the secret a payment provider gave for this environment's POST /webhook/<source>.

    Stripe: the endpoint's signing secret (whsec_...). Adyen: the HMAC key (hex). Braintree: the API key
    pair as <public key>:<private key>. Razorpay: the webhook secret. Square: the signature key. It
    verifies within seconds; the secret is never printed, logged or kept in terraform's state.
    Example: pbpaste | tapctl secret set --env prod --source stripe --keep-previous 24h
    """
    from tapctl import providers
    from tapctl.signing_secret import SigningSecret, describe_expiry

    try:
        secret = providers.check_secret(source, secret_file.read().strip())
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    entries = SigningSecret.of_source(*deployed(settings), settings.env, source).set(secret, keep_previous)
    kept = [describe_expiry(entry["expires_at"]) for entry in entries[1:]]
    lines = [f"{settings.env}: the {source} secret is set"]
    lines += [f"  the previous one {expiry}" for expiry in kept] or ["  no previous one verifies"]
    emit(settings, {"environment": settings.env, "source": source, "versions": len(entries),
                    "previous_expire_at": [entry["expires_at"] for entry in entries[1:]]}, lines)


@main.command()
@environment_options
@click.option("--file", "body_file", type=click.File("rb"), default="-", show_default=True,
              help="The body to sign, exactly as it will be sent ('-' reads standard input).")
@click.option("--curl", is_flag=True, help="Print a ready curl command that sends the body, signed, to the endpoint.")
@click.option("--source", type=click.Choice(SOURCES),
              help="Sign as this payment provider signs, for its route (Braintree: the body is the notification's XML).")
@click.option("--event-id", default=None, help="Razorpay's x-razorpay-event-id for --source razorpay (default: a new one).")
def sign(settings, body_file, curl, source, event_id):
    """Print the headers of a body signed with the environment's current secret (Standard Webhooks), or
    with a provider's scheme and the source's secret (--source): the request that provider would send.

    Adyen signs each notification item, and Braintree posts the XML as a signed form, so for those the
    body to send is printed too (after the headers and a blank line). Examples:
    tapctl sign --env dev --file event.json --curl | sh;
    tapctl sign --env dev --source stripe --file stripe-event.json --curl | sh
    """
    from tapctl import signing
    from tapctl.signing_secret import SigningSecret
    body = body_file.read()
    target, outputs = deployed(settings)
    if event_id is not None and source != "razorpay":
        raise UsageError("--event-id names Razorpay's x-razorpay-event-id: give it with --source razorpay only")
    if source:
        from tapctl import providers

        secret = SigningSecret.of_source(target, outputs, settings.env, source).current()
        route = outputs["webhook_sources"][source]
        url = route["url"]
        try:
            headers, sent = providers.signed(source, body, secret, url=route.get("notification_url") or url,
                                             event_id=event_id)
        except ValueError as problem:
            raise UsageError(f"{body_file.name}: {problem}") from None
    else:
        url, sent = outputs["api_endpoint"], body
        headers = signing.headers(SigningSecret.of(target, outputs, settings.env).current(), body)
    if curl:
        try:
            command = signing.curl_command(url, headers, sent, body_file.name if sent == body else "<the signed body>")
        except ValueError as problem:
            raise UsageError(f"--curl: {problem}") from None
        emit(settings, {**headers, "curl": command}, [command])
    elif source:
        lines = [f"{name}: {value}" for name, value in headers.items()]
        emit(settings, {"url": url, "headers": headers, "body": sent.decode("utf-8", "replace")},
             lines + (["", sent.decode("utf-8", "replace")] if sent != body else []))
    else:
        emit(settings, headers, [f"{name}: {value}" for name, value in headers.items()])
