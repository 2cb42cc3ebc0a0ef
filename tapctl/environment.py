"""What an environment was deployed with, remembered between commands, and how a command's settings are
resolved from its flags, the project file (tapctl.toml), that record and the defaults, in this order.

The record (``<state dir>/<target>/<env>/environment.json``) is written by every successful apply: target,
AWS account id, region, backend config, var-files, plugin dir. Later commands reuse what their flags
do not say, so a forgotten ``--var-file`` or region can no longer plan a second stack or drop settings.
Account, region and backend are the environment's identity: a command that would use other ones is
refused with one line naming both (exit 9), instead of planning against another account or an empty state.
"""

import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from tapctl import __version__
from tapctl.config import REGION_PATTERN, TARGETS, Settings
from tapctl.errors import NoCredentials, UsageError, WrongEnvironment
from tapctl.project import find_project_dir, load

RECORD_FILE = "environment.json"


@dataclass(frozen=True)
class Record:
    environment: str
    target: str
    account: str
    region: str
    backend_config: str | None = None  # relative to the project when inside it
    var_files: tuple = ()
    plugin_dir: str | None = None
    deployed_at: str = ""
    tapctl_version: str = ""

    def as_dict(self):
        return {**asdict(self), "var_files": list(self.var_files)}


def read_record(workdir):
    try:
        data = json.loads((Path(workdir) / RECORD_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise UsageError(f"{Path(workdir) / RECORD_FILE} is unreadable ({error}): fix or delete it") from None
    fields = Record.__dataclass_fields__
    return Record(**{**{key: value for key, value in data.items() if key in fields},
                     "var_files": tuple(data.get("var_files") or ())})


def write_record(settings, identity):
    """Remember how ``settings.env`` is deployed now (after a successful apply)."""
    record = Record(
        environment=settings.env,
        target=settings.target,
        account=identity.account,
        region=identity.region,
        backend_config=portable(settings.backend_config, settings.project_dir),
        var_files=tuple(portable(path, settings.project_dir) for path in settings.var_files),
        plugin_dir=settings.plugin_dir or None,
        deployed_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        tapctl_version=__version__,
    )
    workdir = Path(settings.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=workdir, prefix=".environment.", suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump(record.as_dict(), out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(temporary, workdir / RECORD_FILE)
    return record


def forget_record(workdir):
    """After a destroy: nothing is deployed any more, so nothing pins the name to an account or region."""
    (Path(workdir) / RECORD_FILE).unlink(missing_ok=True)


def portable(path, project_dir):
    """``path`` relative to the project when it lies inside it (a record survives moving the checkout)."""
    if not path:
        return None
    absolute = Path(path).resolve()
    try:
        return str(absolute.relative_to(Path(project_dir).resolve()))
    except ValueError:
        return str(absolute)


def absolute(path, project_dir):
    if not path:
        return ""
    path = Path(path).expanduser()
    return str(path if path.is_absolute() else Path(project_dir) / path)


@dataclass(frozen=True)
class Options:
    """What a command's flags (and their environment variables) said; None or empty where they said nothing."""

    env: str = ""
    target: str | None = None
    project_dir: Path | None = None
    state_dir: Path | None = None
    terraform_bin: str = ""
    plugin_dir: str = ""
    backend_config: str = ""
    var_files: tuple = ()
    lock_timeout: str = "5m"
    verbose: bool = False
    module_dir: Path | None = None
    json_output: bool = False
    migrate_state: bool = False  # tapctl init --migrate-state: the backend is meant to change


def resolve(options):
    """The command's Settings: each value from the flags, else the project file, else the record, else
    the default. Refuses a project file that contradicts where the environment is deployed."""
    project_dir = Path(options.project_dir).resolve() if options.project_dir else find_project_dir()
    project = load(project_dir)
    declared = project.declared(options.env) if options.env else project.declared("")
    base = Settings(project_dir=project_dir, env=options.env, state_dir=options.state_dir,
                    module_dir=options.module_dir, json_output=options.json_output)
    target = options.target or declared.target or _deployed_target(base) or TARGETS[0]
    settings = replace(base, target=target)
    record = read_record(settings.workdir) if options.env else None

    def pick(flag, declared_value, recorded):
        for value in (flag, declared_value, recorded):
            if value:
                return value
        return None

    backend = (absolute(options.backend_config, Path.cwd()) if options.backend_config
               else absolute(pick(None, declared.backend_config, record and record.backend_config), project_dir))
    var_files = (tuple(absolute(path, Path.cwd()) for path in options.var_files) if options.var_files
                 else tuple(absolute(path, project_dir)
                            for path in (declared.var_files or (record.var_files if record else ()))))
    settings = replace(
        settings,
        terraform_bin=options.terraform_bin,
        plugin_dir=pick(options.plugin_dir, None, record and record.plugin_dir) or "",
        backend_config=backend or "",
        var_files=var_files,
        region=declared.region or (record.region if record else ""),
        account=declared.account or (record.account if record else ""),
        protected=declared.protected,
        lock_timeout=options.lock_timeout,
        verbose=options.verbose,
        record=record,
    )
    if record:
        _agree_with_record(settings, declared, record, project, options.migrate_state)
    missing = [path for path in settings.var_files if not Path(path).is_file()]
    if missing:
        raise UsageError(f"var-file not found: {missing[0]}")
    return settings


def _deployed_target(settings):
    """The one target this environment has a folder for, if any; two is ambiguous."""
    found = [target for target in TARGETS if _has_environment(replace(settings, target=target).workdir)]
    if len(found) > 1:
        raise UsageError(f"environment {settings.env} exists on several targets ({', '.join(found)}): pass --target")
    return found[0] if found else None


def _has_environment(workdir):
    # A record, a local state or an emulator: a folder left by a failed first init is no environment.
    return any((Path(workdir) / name).is_file() for name in (RECORD_FILE, "terraform.tfstate", "emulator.json"))


def _agree_with_record(settings, declared, record, project, migrating):
    where = f"{settings.env} was deployed to"
    for name, said, recorded in (("account", declared.account, record.account),
                                 ("region", declared.region, record.region)):
        if said and recorded and said != recorded:
            raise WrongEnvironment(
                f"{project.path.name} places {settings.env} in {name} {said}, but {where} {name} {recorded} "
                f"({Path(settings.workdir) / RECORD_FILE}): fix the file, or destroy and redeploy"
            )
    recorded_backend = absolute(record.backend_config, settings.project_dir)
    if not migrating and Path(settings.backend_config or ".").resolve() != Path(recorded_backend or ".").resolve():
        now = settings.backend_config or "local state"
        before = recorded_backend or "local state"
        raise WrongEnvironment(
            f"{settings.env} keeps its state in {before}, but this command would use {now}: an empty state "
            f"would plan a second stack. Move the state with `tapctl init --env {settings.env} --migrate-state "
            f"--backend-config ...`, or use the recorded backend"
        )


# -- the account and region a command runs against ----------------------------------------------------


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
