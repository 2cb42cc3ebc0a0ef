"""The command-line options that several commands share, declared once, and their parameter types."""

import functools
from pathlib import Path

import click

from tapctl.config import TARGETS, env_name_problem
from tapctl.errors import UsageError


def check_env(ctx, param, value):
    if value is not None:
        problem = env_name_problem(value)
        if problem:
            raise click.BadParameter(problem)
    return value


def project_options(func):
    """Where the project and tapctl's state are, and whether to answer in JSON: every command has these."""

    @click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), envvar="TAPCTL_PROJECT_DIR",
                  default=None, help="Folder holding handlers/ and terraform/ [default: the nearest one upward from "
                  "here, else the installed checkout].")
    @click.option("--state-dir", envvar="TAPCTL_STATE_DIR", type=click.Path(file_okay=False, path_type=Path),
                  default=None, help="Where tapctl keeps each environment's working copy, local state and record "
                  "[default: PROJECT/.tapctl].")
    @click.option("--json", "json_output", is_flag=True, help="Print results as JSON (progress still goes to stderr).")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


# The options of every command that acts on one environment, declared once: each one's name is the
# Settings field it fills (tapctl.environment.resolve), so a new option is one line here.
_ENVIRONMENT_OPTIONS = (
    click.option("--env", "env", envvar="ENVIRONMENT_SUFFIX", show_envvar=True, default=None, callback=check_env,
                 help="Environment name: lower-case letters, digits, '-', starting with a letter, at most 20."),
    click.option("--terraform-bin", envvar="TAPCTL_TERRAFORM_BIN", default="",
                 help="terraform or tofu executable [default: terraform, then tofu, on PATH]."),
    click.option("--plugin-dir", envvar="TAPCTL_PLUGIN_DIR", default="",
                 help="Offline provider mirror for terraform init -plugin-dir [default: as recorded, else the "
                 "public registry]."),
    click.option("--backend-config", envvar="TAPCTL_BACKEND_CONFIG", default="",
                 help="S3 backend settings file (bucket, region, ...); the state key is set per environment "
                 "[default: as recorded or in tapctl.toml, else local state]."),
    click.option("--var-file", "var_files", multiple=True, type=click.Path(dir_okay=False),
                 help="Extra terraform variables (e.g. alarm_email); may be repeated; replaces the recorded ones."),
    click.option("--lock-timeout", envvar="TAPCTL_LOCK_TIMEOUT", default="5m", show_default=True,
                 help="How long to wait for a state lock held by another run (terraform duration: 30s, 5m)."),
    click.option("--verbose", "-v", is_flag=True, envvar="TAPCTL_VERBOSE",
                 help="Every line terraform writes, instead of one progress line on a terminal (the environment's "
                 "terraform.log always has them all)."),
    click.option("--module-dir", envvar="TAPCTL_MODULE_DIR", type=click.Path(file_okay=False, path_type=Path),
                 default=None, hidden=True),
)


def _target_option(hidden):
    return click.option("--target", type=click.Choice(TARGETS), default=None, envvar="TAPCTL_TARGET", hidden=hidden,
                        help="AWS or the local emulator [default: as the environment was deployed, else tapctl.toml, "
                        "else aws].")


def _names(options):
    """The parameter names a list of click options gives a command."""

    def probe():
        pass

    for option in options:
        probe = option(probe)
    return tuple(param.name for param in probe.__click_params__)


_FLAGS = _names(_ENVIRONMENT_OPTIONS + (_target_option(False),)) + _names((project_options,))


def environment_options(func=None, *, env_required=True, fixed_target=None):
    """Give a command the environment options and call it with the Settings they resolve to (each value
    from the flag, else tapctl.toml, else the environment's record, else the default)."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            from tapctl.environment import resolve

            flags = {name: kwargs.pop(name) for name in _FLAGS}
            if env_required and flags["env"] is None:
                raise UsageError("Missing option '--env': name the environment (or set ENVIRONMENT_SUFFIX)")
            flags["target"] = fixed_target or flags["target"]
            flags["migrate_state"] = kwargs.get("migrate_state", False)
            return func(*args, settings=resolve(flags), **kwargs)

        for option in reversed(_ENVIRONMENT_OPTIONS[:1] + (_target_option(bool(fixed_target)),)
                               + _ENVIRONMENT_OPTIONS[1:] + (project_options,)):
            wrapper = option(wrapper)
        return wrapper

    return decorate(func) if func else decorate


ALLOW_DATA_LOSS = click.option(
    "--allow-data-loss", is_flag=True,
    help="Accept a plan that deletes or replaces a resource holding data (the table, a queue or DLQ, a log group, "
    "the signing secret); without it such a plan exits 11.")


class Duration(click.ParamType):
    """A length of time: 90s, 30m, 24h, 7d (or plain seconds)."""

    name = "duration"
    _units = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        text = str(value).strip().lower()
        unit = self._units.get(text[-1:], None)
        number = text[:-1] if unit else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            self.fail(f"{value!r} is not a duration such as 90s, 30m, 24h or 7d", param, ctx)
        if seconds < 0:
            self.fail(f"{value!r} is negative", param, ctx)
        return seconds
