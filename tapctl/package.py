"""Builds one zip per Lambda function, byte-for-byte reproducible, and a manifest of their sha256.

Reproducible means: the same handler sources give the same bytes on any checkout, whatever the files'
mtimes, permissions or the umask. Entries are sorted, dated 1980-01-01, mode 0644, compressed at a
fixed level; ``__pycache__`` and ``.pyc`` never enter. A zip is written to a temporary file and renamed,
so a reader never sees half a zip. Unchanged inputs skip the build altogether.
"""

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tapctl import config
from tapctl.errors import TapctlError

# Each function's zip (by its package name): the files every function has plus its own modules
# (tapctl.config.FUNCTIONS; handler strings in terraform/locals.tf local.functions).
SHARED = ("handlers/__init__.py", "handlers/runtime.py")
FUNCTIONS = {function.package: SHARED + tuple(f"handlers/{module}.py" for module in function.modules)
             for function in config.FUNCTIONS.values()}
_BY_PACKAGE = {function.package: function for function in config.FUNCTIONS.values()}
MANIFEST = "manifest.json"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644


@dataclass(frozen=True)
class Package:
    function: str
    path: Path
    sha256: str
    size: int
    built: bool  # False when the existing zip was reused

    @property
    def variable(self):
        """The module's variable naming this zip."""
        return _BY_PACKAGE[self.function].package_variable


def _inputs_digest(project_dir, files):
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + (project_dir / name).read_bytes() + b"\0")
    return digest.hexdigest()


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_zip(project_dir, files, destination):
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for name in sorted(files):
                entry = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.create_system = 3  # Unix, so external_attr holds the mode
                entry.external_attr = FILE_MODE << 16
                archive.writestr(entry, (project_dir / name).read_bytes(), compresslevel=9)
        os.chmod(temporary, 0o644)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build(project_dir, build_dir):
    """Build (or reuse) every function's zip; return the packages and write the manifest."""
    project_dir, build_dir = Path(project_dir), Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = build_dir / MANIFEST
    try:
        previous = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        previous = {}

    packages, manifest = [], {}
    for function, files in FUNCTIONS.items():
        missing = [name for name in files if not (project_dir / name).is_file()]
        if missing:
            raise TapctlError(f"cannot package {function}: {', '.join(missing)} not found under {project_dir}")
        destination = build_dir / f"{function}.zip"
        inputs = _inputs_digest(project_dir, files)
        known = previous.get(function, {})
        reuse = (
            known.get("inputs_sha256") == inputs
            and destination.is_file()
            and _sha256(destination) == known.get("sha256")
        )
        if not reuse:
            _write_zip(project_dir, files, destination)
        sha256 = _sha256(destination)
        manifest[function] = {
            "file": destination.name,
            "sha256": sha256,
            "size": destination.stat().st_size,
            "inputs_sha256": inputs,
            "files": sorted(files),
        }
        packages.append(Package(function, destination, sha256, destination.stat().st_size, built=not reuse))

    if manifest != previous:
        handle, temporary = tempfile.mkstemp(dir=build_dir, prefix=".manifest.", suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            json.dump(manifest, out, indent=2, sort_keys=True)
            out.write("\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, manifest_path)
    return packages
