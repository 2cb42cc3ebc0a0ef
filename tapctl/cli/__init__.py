"""The click commands of tapctl, one module per kind: ``lifecycle`` (package, init, plan, apply, deploy,
destroy, output, smoke-test), ``operate`` (status, trace, logs, redrive, replay-failures), ``secrets``
(secret show / rotate, sign) and ``local`` (the local target). Each command reads its options (resolved
into Settings by tapctl.options and tapctl.environment), calls one function of the plain modules
(targets, deploy, smoke, ...) that know nothing of click, and prints: progress to stderr, results to
stdout.
"""

from tapctl.cli import lifecycle, local, operate, secrets  # noqa: F401 (each registers its commands)
from tapctl.cli.group import main

__all__ = ["main"]
