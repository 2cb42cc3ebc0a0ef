"""The integration tier: a deployed pipeline end to end.

By default the local target, deployed once per test session from the real terraform/ module and
destroyed at the end (which must leave no process or port behind). Against AWS when asked:
TAPCTL_TARGET=aws and TAPCTL_TEST_ENV=<deployed environment>; the tests then read that environment's
outputs, and those that need the emulator's control (faults, throttling) are skipped.
"""

import json
import os
import socket
from dataclasses import dataclass

import boto3
import pytest
from click.testing import CliRunner

from tapctl.cli import main
from tests.support import ROOT


@dataclass
class Deployment:
    env: str
    target: str
    outputs: dict
    endpoint: str = ""  # the emulator's, for the local target

    def client(self, service):
        if self.target == "local":
            return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                                aws_access_key_id="local", aws_secret_access_key="local")
        return boto3.client(service)

    @property
    def url(self):
        return self.outputs["api_endpoint"]


def _listening(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def deployment(tmp_path_factory):
    target = os.environ.get("TAPCTL_TARGET", "local")
    if target == "aws":
        env = os.environ.get("TAPCTL_TEST_ENV")
        if not env:
            pytest.skip("TAPCTL_TARGET=aws needs TAPCTL_TEST_ENV=<a deployed environment>")
        result = CliRunner().invoke(main, ["output", "--env", env, "--target", "aws", "--json"])
        assert result.exit_code == 0, result.output
        yield Deployment(env, "aws", json.loads(result.stdout))
        return

    plugin_dir = os.environ.get("TAPCTL_PLUGIN_DIR")
    if not plugin_dir:
        pytest.skip("the local target needs the AWS provider: TAPCTL_PLUGIN_DIR is not set (make test sets it)")
    state_dir = tmp_path_factory.mktemp("tapctl-state")
    common = ["--env", "itest", "--target", "local", "--state-dir", str(state_dir), "--plugin-dir", plugin_dir,
              "--project-dir", str(ROOT)]
    result = CliRunner().invoke(main, ["deploy", *common, "--auto-approve", "--json"])
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout)["outputs"]
    emulator = json.loads((state_dir / "local" / "itest" / "emulator.json").read_text())
    yield Deployment("itest", "local", outputs, emulator["endpoint"])

    result = CliRunner().invoke(main, ["destroy", *common, "--auto-approve"])
    assert result.exit_code == 0, result.output
    # Nothing left behind: the emulator's process and port, its workers, its folder.
    try:
        os.kill(emulator["pid"], 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the emulator still runs after destroy"
    assert not _listening(emulator["port"]), "something still listens on the emulator's port after destroy"
    assert not (state_dir / "local" / "itest").exists()


@pytest.fixture
def local_only(deployment):
    if deployment.target != "local":
        pytest.skip("needs the local emulator's control plane")
    return deployment
