"""The account and region a command runs against, and the checks that keep it on the environment's own.

Account and region are part of an environment's identity (with its backend: tapctl.environment): a
command that would use other ones is refused with one line naming both (exit 9), instead of planning
against another account.
"""

import os
from dataclasses import dataclass

from tapctl.config import REGION_PATTERN
from tapctl.errors import NoCredentials, UsageError, WrongEnvironment


@dataclass(frozen=True)
class Identity:
    account: str
    region: str


def configured_region():
    """(region, where it came from) by the standard AWS resolution: AWS_REGION, AWS_DEFAULT_REGION, then
    the profile's region in the AWS config file; (None, None) when none is set."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            return os.environ[name], name
    import botocore.exceptions
    import botocore.session

    session = botocore.session.Session()
    try:
        region = session.get_config_variable("region")
    except botocore.exceptions.ProfileNotFound as error:
        raise NoCredentials(f"{error}: set AWS_PROFILE to a profile of your AWS config") from None
    profile = session.get_config_variable("profile") or "default"
    return (region, f"profile {profile}") if region else (None, None)


def region_for(settings, default=None):
    """The region this command uses: the environment's, which the AWS configuration must not contradict;
    for an environment not yet deployed, the configured one (or ``default``)."""
    import re

    configured, source = configured_region()
    if configured and not re.fullmatch(REGION_PATTERN, configured):
        raise UsageError(f"{source} names {configured!r}, which is not an AWS region name")
    if settings.region and configured and configured != settings.region:
        raise WrongEnvironment(
            f"environment {settings.env} is in region {settings.region}, but {source} says {configured}: "
            f"set AWS_REGION={settings.region} (or use the profile it was deployed with)"
        )
    region = settings.region or configured or default
    if not region:
        raise UsageError(
            f"no AWS region for {settings.env}: set AWS_REGION or a profile region, or region in tapctl.toml"
        )
    return region


def check_account(settings, identity):
    if settings.account and identity.account != settings.account:
        raise WrongEnvironment(
            f"environment {settings.env} is in account {settings.account}, but these credentials are for "
            f"account {identity.account} ({identity.region}): switch AWS_PROFILE or credentials"
        )
