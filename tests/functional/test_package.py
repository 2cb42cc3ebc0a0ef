"""tapctl package: identical bytes from two clones, whatever their mtimes and umask; a true manifest."""

import hashlib
import json
import os
import subprocess
import zipfile

from click.testing import CliRunner

from tapctl import package
from tapctl.config import SOURCES
from tapctl.cli import main
from tests.support import ROOT


def clone(tmp_path, name, umask):
    target = tmp_path / name
    subprocess.run(
        ["sh", "-c", f'umask {umask} && git clone --quiet --no-hardlinks "$0" "$1"', str(ROOT), str(target)],
        check=True,
    )
    return target


def build(project):
    result = CliRunner().invoke(main, ["package", "--project-dir", str(project), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_two_clones_build_identical_zips(tmp_path):
    first, second = clone(tmp_path, "first", "022"), clone(tmp_path, "second", "077")
    for offset, path in enumerate(sorted((second / "handlers").glob("*.py"))):
        os.utime(path, (1_000_000_000 + offset, 1_000_000_000 + offset))
    os.chmod(second / "handlers" / "router.py", 0o755)
    cache = second / "handlers" / "__pycache__"
    cache.mkdir()
    (cache / "validator.cpython-311.pyc").write_bytes(b"stale bytecode")

    built_first, built_second = build(first), build(second)
    assert [entry["sha256"] for entry in built_first] == [entry["sha256"] for entry in built_second]
    for function in package.FUNCTIONS:
        name = f"{function}.zip"
        assert (first / "build" / name).read_bytes() == (second / "build" / name).read_bytes()
    assert (first / "build" / "manifest.json").read_bytes() == (second / "build" / "manifest.json").read_bytes()


def test_zip_entries_are_sorted_dated_and_mode_0644(tmp_path):
    project = clone(tmp_path, "project", "022")
    build(project)
    for function, files in package.FUNCTIONS.items():
        with zipfile.ZipFile(project / "build" / f"{function}.zip") as archive:
            entries = archive.infolist()
            assert [entry.filename for entry in entries] == sorted(files)
            assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}
            assert {entry.external_attr >> 16 for entry in entries} == {0o100644}
            assert all(entry.compress_type == zipfile.ZIP_DEFLATED for entry in entries)
            for entry in entries:
                assert archive.read(entry) == (project / entry.filename).read_bytes()


def test_manifest_records_each_zip(tmp_path):
    project = clone(tmp_path, "project", "022")
    build(project)
    manifest = json.loads((project / "build" / "manifest.json").read_text())
    assert set(manifest) == set(package.FUNCTIONS)
    for function, entry in manifest.items():
        data = (project / "build" / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
        assert entry["files"] == sorted(package.FUNCTIONS[function])


def test_unchanged_sources_are_not_rebuilt_and_a_change_is(tmp_path):
    project = clone(tmp_path, "project", "022")
    assert all(entry["built"] for entry in build(project))
    zip_path = project / "build" / "event-router.zip"
    stamp = zip_path.stat().st_mtime_ns
    again = build(project)
    assert not any(entry["built"] for entry in again)
    assert zip_path.stat().st_mtime_ns == stamp

    with open(project / "handlers" / "router.py", "a") as source:
        source.write("\n# changed\n")
    rebuilt = {entry["function"]: entry["built"] for entry in build(project)}
    assert rebuilt == {"webhook-validator": False, "event-router": True, "outbox-sweeper": False}


def test_a_tampered_zip_is_rebuilt(tmp_path):
    project = clone(tmp_path, "project", "022")
    first = {entry["function"]: entry["sha256"] for entry in build(project)}
    (project / "build" / "webhook-validator.zip").write_bytes(b"not the package")
    second = {entry["function"]: (entry["sha256"], entry["built"]) for entry in build(project)}
    assert second["webhook-validator"] == (first["webhook-validator"], True)


def test_missing_handler_is_one_clear_error(tmp_path):
    project = clone(tmp_path, "project", "022")
    (project / "handlers" / "router.py").unlink()
    result = CliRunner().invoke(main, ["package", "--project-dir", str(project)])
    assert result.exit_code == 4
    assert "cannot package event-router: handlers/router.py not found" in result.output
    assert "Traceback" not in result.output


def test_each_zip_holds_every_module_its_handler_imports(tmp_path):
    """Imported from its unpacked zip alone, as Lambda does: nothing may come from the checkout."""
    import sys

    handlers = {"webhook-validator": "handlers.validator, " + ", ".join(f"handlers.sources.{name}" for name in SOURCES),
                "event-router": "handlers.router", "outbox-sweeper": "handlers.sweeper"}
    for built in package.build(ROOT, tmp_path / "build"):
        unpacked = tmp_path / built.function
        with zipfile.ZipFile(built.path) as archive:
            archive.extractall(unpacked)
        code = (f"import sys; sys.path.insert(0, {str(unpacked)!r}); import {handlers[built.function]}; "
                "print(sorted(m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'handlers'))")
        loaded = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True,
                                text=True).stdout
        assert all(path.startswith(str(unpacked)) for path in eval(loaded)), loaded
