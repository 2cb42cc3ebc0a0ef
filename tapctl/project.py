"""Where the project is, and what its committed project file (``tapctl.toml``) declares per environment.

The project folder is found as git finds ``.git``: the nearest folder upward from the current directory
that holds ``terraform/`` and ``handlers/``, else the checkout tapctl is installed from.

``tapctl.toml`` lets a team deploy every environment the same way from every laptop and CI job::

    [defaults]                          # every environment, declared below or not (pr-123, ...)
    region = "eu-west-1"
    backend_config = "deploy/backend.hcl"

    [environments.prod]
    account = "123456789012"            # commands with credentials of another account are refused
    var_files = ["deploy/prod.tfvars"]
    protected = true                    # deletion protection; warns when no one gets its alarms

    [environments.prod.sources.stripe]  # POST /webhook/stripe (README, "Payment providers")
    types = { "charge.succeeded" = "payment" }
    [environments.prod.sources.adyen]

Paths are relative to the project folder. A command-line flag overrides the file.
"""

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tapctl.config import ACCOUNT_PATTERN, REGION_PATTERN, SOURCES, TARGETS, env_name_problem
from tapctl.errors import UsageError

PROJECT_FILE = "tapctl.toml"


def is_project(folder):
    return (folder / "terraform").is_dir() and (folder / "handlers").is_dir()


def find_project_dir(start=None):
    """The nearest folder upward from ``start`` (the current directory) holding terraform/ and handlers/,
    else the checkout tapctl runs from, else ``start`` itself."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if is_project(folder):
            return folder
    installed = Path(__file__).resolve().parent.parent
    return installed if is_project(installed) else start


@dataclass(frozen=True)
class Declared:
    """What the project file says of one environment; None where it says nothing."""

    target: str | None = None
    account: str | None = None
    region: str | None = None
    backend_config: str | None = None
    var_files: tuple | None = None
    protected: bool | None = None
    sources: dict | None = None


# What a source may set (terraform/variables.tf webhook_sources).
SOURCE_SETTINGS = {
    "types": (dict, lambda value: all(isinstance(key, str) and kind in TRANSACTION_KINDS for key, kind in value.items()),
              "a table of the provider's event types, each = payment, refund, dispute or ignore"),
    "tolerance_seconds": (int, lambda value: 60 <= value <= 3600, "a number of seconds from 60 to 3600"),
    "notification_url": (str, lambda value: value.startswith("https://"), "the https:// URL registered with Square"),
}
TRANSACTION_KINDS = ("payment", "refund", "dispute", "ignore")


def _sources(value):
    return all(name in SOURCES and isinstance(table, dict) and all(
        key in SOURCE_SETTINGS and isinstance(setting, SOURCE_SETTINGS[key][0]) and SOURCE_SETTINGS[key][1](setting)
        for key, setting in table.items()) for name, table in value.items())


_KEYS = {
    "target": (str, lambda value: value in TARGETS, "aws or local"),
    "account": (str, lambda value: re.fullmatch(ACCOUNT_PATTERN, value), "a 12-digit AWS account id in quotes"),
    "region": (str, lambda value: re.fullmatch(REGION_PATTERN, value), "a region name such as eu-west-1"),
    "backend_config": (str, bool, "a path to an S3 backend settings file"),
    "var_files": (list, lambda value: all(isinstance(item, str) and item for item in value), "a list of paths"),
    "protected": (bool, lambda value: True, "true or false"),
    "sources": (dict, _sources, f"tables of sources ({', '.join(SOURCES)}), each with "
                                f"{', '.join(SOURCE_SETTINGS)}: {'; '.join(rule for _, _, rule in SOURCE_SETTINGS.values())}"),
}


@dataclass(frozen=True)
class ProjectFile:
    path: Path | None = None
    defaults: dict = field(default_factory=dict)
    environments: dict = field(default_factory=dict)

    def declared(self, env):
        """The merged declaration of ``env``: its own table over [defaults]."""
        values = {**self.defaults, **self.environments.get(env, {})}
        if "var_files" in values:
            values["var_files"] = tuple(values["var_files"])
        return Declared(**values)


def load(project_dir):
    """The project file of ``project_dir``, or an empty one; a malformed file is one usage error."""
    path = Path(project_dir) / PROJECT_FILE
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return ProjectFile()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"{path}: not a valid TOML file: {error}") from None
    unknown = sorted(set(document) - {"defaults", "environments"})
    if unknown:
        raise UsageError(f"{path}: unknown table {unknown[0]!r}: use [defaults] and [environments.<name>]")
    defaults = _table(path, "defaults", document.get("defaults", {}))
    environments = document.get("environments", {})
    if not isinstance(environments, dict):
        raise UsageError(f"{path}: environments must be tables: [environments.<name>]")
    checked = {}
    for name, table in environments.items():
        problem = env_name_problem(name)
        if problem:
            raise UsageError(f"{path}: [environments.{name}]: {problem}")
        checked[name] = _table(path, f"environments.{name}", table)
    return ProjectFile(path, defaults, checked)


def _table(path, where, table):
    if not isinstance(table, dict):
        raise UsageError(f"{path}: {where} must be a table")
    for key, value in table.items():
        if key not in _KEYS:
            raise UsageError(f"{path}: {where}.{key} is not a setting: use one of {', '.join(_KEYS)}")
        kind, valid, rule = _KEYS[key]
        if not isinstance(value, kind) or not valid(value):
            raise UsageError(f"{path}: {where}.{key} must be {rule}, not {value!r}")
    return dict(table)
