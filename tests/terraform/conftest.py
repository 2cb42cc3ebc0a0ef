"""The terraform tier: the real terraform binary with the real AWS provider, from an offline mirror when
one is configured (TAPCTL_PLUGIN_DIR, which the Makefile finds) and else from the public registry.

Skips, naming what is missing, only where terraform is absent or neither provider source is available.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, unavailable

MODULE = ROOT / "terraform"


def terraform_bin():
    configured = os.environ.get("TAPCTL_TERRAFORM_BIN")
    return shutil.which(configured) if configured else shutil.which("terraform") or shutil.which("tofu")


@pytest.fixture(scope="session")
def terraform():
    found = terraform_bin()
    if not found:
        unavailable("terraform is not installed: no TAPCTL_TERRAFORM_BIN, no terraform or tofu on PATH")
    return found


@pytest.fixture(scope="session")
def plugin_dir():
    """The configured provider mirror, or "" for the public registry (module_copy skips if that fails)."""
    configured = os.environ.get("TAPCTL_PLUGIN_DIR", "")
    if configured and not (Path(configured) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.fail(f"TAPCTL_PLUGIN_DIR={configured} holds no registry.terraform.io/hashicorp/aws provider")
    return configured


def run(terraform, *args, cwd, check=True):
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    result = subprocess.run([terraform, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def module_copy(tmp_path_factory, terraform, plugin_dir):
    """An initialised copy of terraform/, so the checkout never gets .terraform or a lock file."""
    copy = tmp_path_factory.mktemp("module") / "terraform"
    shutil.copytree(MODULE, copy, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"))
    source = [f"-plugin-dir={plugin_dir}"] if plugin_dir else []
    result = run(terraform, "init", "-backend=false", *source, "-no-color", cwd=copy, check=False)
    if result.returncode != 0 and not plugin_dir and "could not connect to registry" in " ".join(result.stderr.split()):
        unavailable("no AWS provider: no mirror is configured (TAPCTL_PLUGIN_DIR) and the public registry is "
                    "unreachable")
    if result.returncode != 0:
        pytest.fail(f"terraform init failed:\n{result.stdout}\n{result.stderr}")
    return copy
