"""tapctl's failures a user can cause or meet: each prints one line and exits with its own code.

Exit codes (also in the README):

    0  success
    1  a check failed (smoke test), or the user declined a confirmation
    2  bad usage: unknown option, bad environment name, bad value
    3  a required tool is missing (terraform/tofu not found)
    4  terraform failed (the message is terraform's own first error)
    5  the environment's state is locked by another run
    6  no AWS credentials
    7  an endpoint is unreachable
    8  a saved plan does not belong to this environment
"""

import click


class TapctlError(click.ClickException):
    exit_code = 4


class ToolMissing(TapctlError):
    exit_code = 3


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


class ChecksFailed(TapctlError):
    exit_code = 1
