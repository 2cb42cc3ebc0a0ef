"""The click commands of tapctl; each resolves its inputs and hands over to plain modules."""

import click

from tapctl import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tapctl")
def main():
    """Build, deploy and smoke-test the tapctl financial-webhook pipeline.

    \b
    POST /webhook -> API Gateway -> webhook-validator (validate, de-duplicate)
                  -> event-router -> payments / refunds / disputes queues
    """
