"""The commands of the environment's webhook signing secret: show, rotate, sign a body with it."""

import time

import click

from tapctl.cli.group import deployed, main
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


@main.command()
@environment_options
@click.option("--file", "body_file", type=click.File("rb"), default="-", show_default=True,
              help="The body to sign, exactly as it will be sent ('-' reads standard input).")
@click.option("--curl", is_flag=True, help="Print a ready curl command that sends the body, signed, to the endpoint.")
def sign(settings, body_file, curl):
    """Print the Standard Webhooks headers of a body, signed with the environment's current secret.

    Example: tapctl sign --env dev --file event.json --curl | sh
    """
    from tapctl import signing
    from tapctl.signing_secret import SigningSecret
    body = body_file.read()
    target, outputs = deployed(settings)
    headers = signing.headers(SigningSecret.of(target, outputs, settings.env).current(), body)
    if curl:
        try:
            command = signing.curl_command(outputs["api_endpoint"], headers, body, body_file.name)
        except ValueError as problem:
            raise UsageError(f"--curl: {problem}") from None
        emit(settings, {**headers, "curl": command}, [command])
    else:
        emit(settings, headers, [f"{name}: {value}" for name, value in headers.items()])
