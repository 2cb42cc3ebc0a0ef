"""tapctl's failures a user can cause or meet: each prints one line and exits with its own code.

Exit codes (also in the README):

    0  success
    1  a check failed (smoke test), or the user declined a confirmation
    2  bad usage: unknown option, bad environment name, bad value, a malformed tapctl.toml
    3  a required tool is missing: terraform/tofu, or the AWS provider (no mirror and no registry)
    4  terraform failed (the message is terraform's own first error)
    5  the environment's state is locked by another run
    6  no AWS credentials
    7  an endpoint is unreachable
    8  a saved plan does not belong to this environment
    9  the credentials or settings name another account, region or backend than the environment's
   10  the account cannot take the deployment (checked before applying: concurrency, API Gateway role)
   11  the plan deletes or replaces a resource holding data, and --allow-data-loss was not given
"""

import click


class TapctlError(click.ClickException):
    exit_code = 4


class UsageError(TapctlError):
    exit_code = 2


class ToolMissing(TapctlError):
    exit_code = 3


class ProviderUnavailable(ToolMissing):
    pass


class TerraformFailed(TapctlError):
    exit_code = 4


class StateLocked(TapctlError):
    exit_code = 5


class NoCredentials(TapctlError):
    exit_code = 6


class EndpointUnreachable(TapctlError):
    exit_code = 7


class PlanMismatch(TapctlError):
    exit_code = 8


class WrongEnvironment(TapctlError):
    exit_code = 9


class PreflightFailed(TapctlError):
    exit_code = 10


class DataLoss(TapctlError):
    exit_code = 11


class ChecksFailed(TapctlError):
    exit_code = 1
