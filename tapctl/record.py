"""What an environment was deployed with, remembered between commands.

The record (``<state dir>/<target>/<env>/environment.json``) is written by every successful apply: target,
AWS account id, region, backend config, var-files, plugin dir. Later commands reuse what their flags
do not say (tapctl.environment), so a forgotten ``--var-file`` or region can no longer plan a second stack
or drop settings.
"""

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from tapctl import __version__
from tapctl.errors import UsageError

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

    def line(self):
        """How the environment is deployed, in one line (tapctl output)."""
        state = f"S3 backend of {self.backend_config}" if self.backend_config else "local state"
        var_files = ", ".join(self.var_files) or "none"
        plugin_dir = self.plugin_dir or "the public registry"
        return (f"{self.environment} on {self.target}: account {self.account}, region {self.region}, {state}, "
                f"var-files {var_files}, provider from {plugin_dir}, deployed {self.deployed_at}")


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
