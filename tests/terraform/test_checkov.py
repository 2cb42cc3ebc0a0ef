"""checkov on terraform/: no failed check, and every skip sits next to its resource with a reason."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, unavailable


@pytest.fixture(scope="module")
def checkov_report():
    checkov = Path(os.environ.get("TAPCTL_CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
    if not checkov.exists():
        unavailable(f"checkov is not installed at {checkov} (make test installs it; or set TAPCTL_CHECKOV)")
    result = subprocess.run(
        [str(checkov), "-d", str(ROOT / "terraform"), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_no_failed_checks(checkov_report):
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for check in checkov_report["results"]["failed_checks"]
    ]
    assert failed == []
    assert checkov_report["summary"]["parsing_errors"] == 0
    # checkov read the module: the distinct checks passed, whatever the number of instances it expands (a
    # for_each over a map of resources is checked once, as its one block of code).
    assert len({check["check_id"] for check in checkov_report["results"]["passed_checks"]}) >= 34


def test_every_skip_gives_its_reason(checkov_report):
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped, "the module documents its skips in-line; none found means checkov did not read them"
    unexplained = [
        f"{check['check_id']} {check['resource']}"
        for check in skipped
        if len(check["check_result"].get("suppress_comment", "").strip()) < 20
    ]
    assert unexplained == []
