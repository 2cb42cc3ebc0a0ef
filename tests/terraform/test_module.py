"""terraform fmt, validate and the module's own `terraform test` suite, on the real provider."""

import json
import re

from tests.terraform.conftest import MODULE, run


def test_formatted(terraform):
    result = run(terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(MODULE), cwd=MODULE, check=False)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}"


def test_valid(terraform, module_copy):
    result = run(terraform, "validate", "-json", "-no-color", cwd=module_copy)
    report = json.loads(result.stdout)
    assert report["valid"] and report["error_count"] == 0, report


def test_module_test_suite_passes(terraform, module_copy):
    result = run(terraform, "test", "-no-color", cwd=module_copy, check=False)
    summary = re.search(r"(Success|Failure)! (\d+) passed, (\d+) failed", result.stdout)
    assert summary, result.stdout + result.stderr
    assert result.returncode == 0 and summary.group(3) == "0", result.stdout + result.stderr
    assert int(summary.group(2)) >= 19
