"""The ``tapctl`` command group, and what its commands share."""

import click

from tapctl import __version__
from tapctl.console import progress


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tapctl")
def main():
    """Build, deploy and smoke-test the tapctl financial-webhook pipeline.

    \b
    POST /webhook -> API Gateway -> webhook-validator (validate, de-duplicate)
                  -> event-router -> payments / refunds / disputes queues

    \b
    Examples:
      tapctl deploy --env dev                  # package, plan, check the account, confirm, apply
      tapctl plan --env prod --out prod.tfplan # a plan to review
      tapctl apply --env prod --plan prod.tfplan
      tapctl smoke-test --env dev              # prove the deployment works
      tapctl destroy --env pr-123 --auto-approve

    An environment remembers how it was deployed (target, account, region, backend, var-files) and
    tapctl.toml may declare it for a team. Exit codes: 0 ok, 1 checks failed or declined, 2 bad usage,
    3 terraform or the AWS provider missing, 4 terraform failed, 5 state locked, 6 no AWS credentials,
    7 endpoint unreachable (or local emulator not running), 8 plan from another environment, 9 another
    account, region or backend than the environment's, 10 the account cannot take the deployment, 11 the
    plan loses data (deletes or replaces a table, queue, log group or the signing secret) without
    --allow-data-loss.
    """


def deployed(settings):
    """(target, outputs) of the deployed environment a command operates."""
    from tapctl.targets import deployed as deployed_environment

    return deployed_environment(settings, progress)
