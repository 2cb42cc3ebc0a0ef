"""How a command's settings are resolved from its flags, the project file (tapctl.toml), the environment's
record (tapctl.record) and the defaults, in this order.

Account, region and backend are the environment's identity: a command whose flags or project file name
other ones than its record is refused with one line naming both (exit 9), instead of planning against
another account or an empty state.
"""

from dataclasses import fields, replace
from pathlib import Path

from tapctl.config import TARGETS, Settings
from tapctl.errors import UsageError, WrongEnvironment
from tapctl.project import find_project_dir, load
from tapctl.record import RECORD_FILE, absolute, read_record

# Flags resolve reads itself; every other flag whose name is a Settings field is taken as given.
_RESOLVED = ("env", "target", "project_dir", "backend_config", "var_files", "plugin_dir", "migrate_state")


def resolve(flags):
    """The command's Settings from what its flags said (a mapping: flag name -> value, None or empty where
    nothing was said): each value from the flags, else the project file, else the record, else the
    default. Refuses a project file that contradicts where the environment is deployed."""
    said = {name: value for name, value in flags.items() if value is not None}
    env = said.get("env", "")
    project_dir = Path(said["project_dir"]).resolve() if said.get("project_dir") else find_project_dir()
    project = load(project_dir)
    declared = project.declared(env)
    given = {field.name: said[field.name] for field in fields(Settings)
             if field.name in said and field.name not in _RESOLVED}
    base = Settings(project_dir=project_dir, env=env, **given)
    target = said.get("target") or declared.target or _deployed_target(base) or TARGETS[0]
    settings = replace(base, target=target)
    record = read_record(settings.workdir) if env else None

    def pick(flag, declared_value, recorded):
        for value in (flag, declared_value, recorded):
            if value:
                return value
        return None

    backend = (absolute(said["backend_config"], Path.cwd()) if said.get("backend_config")
               else absolute(pick(None, declared.backend_config, record and record.backend_config), project_dir))
    var_files = (tuple(absolute(path, Path.cwd()) for path in said["var_files"]) if said.get("var_files")
                 else tuple(absolute(path, project_dir)
                            for path in (declared.var_files or (record.var_files if record else ()))))
    settings = replace(
        settings,
        plugin_dir=pick(said.get("plugin_dir"), None, record and record.plugin_dir) or "",
        backend_config=backend or "",
        var_files=var_files,
        region=declared.region or (record.region if record else ""),
        account=declared.account or (record.account if record else ""),
        protected=declared.protected,
        sources=declared.sources,
        record=record,
    )
    if record:
        _agree_with_record(settings, declared, record, project, bool(said.get("migrate_state")))
    missing = [path for path in settings.var_files if not Path(path).is_file()]
    if missing:
        raise UsageError(f"var-file not found: {missing[0]}")
    return settings


def _deployed_target(settings):
    """The one target this environment has a folder for, if any; two is ambiguous."""
    from tapctl.targets import TARGET_CLASSES

    found = [name for name in TARGETS if TARGET_CLASSES[name].holds_environment(replace(settings, target=name).workdir)]
    if len(found) > 1:
        raise UsageError(f"environment {settings.env} exists on several targets ({', '.join(found)}): pass --target")
    return found[0] if found else None


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
