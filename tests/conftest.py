"""Fixtures shared by the tiers: a real moto server on loopback reached through AWS_ENDPOINT_URL, and a
deployed pipeline (the local target by default) for the integration and reliability tiers."""

import json
import os
import socket
import urllib.request
from dataclasses import dataclass

import boto3
import pytest
from click.testing import CliRunner

from handlers import runtime
from handlers.signing_keys import keys
from tapctl.cli import main
from tapctl.config import SOURCES, Settings
from tapctl.local import emulator, shared
from tapctl.smoke import post_json
from tests.support import ROOT, unavailable

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # Without Docker, moto's Lambda cannot run code: it accepts invokes and answers without running any.
    _moto_api(endpoint, "config", {"lambda": {"use_docker": False}})
    yield endpoint
    server.stop()


def _moto_api(endpoint, path, payload=None):
    data = json.dumps(payload).encode() if payload is not None else b""
    request = urllib.request.Request(f"{endpoint}/moto-api/{path}", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


@pytest.fixture
def aws(moto_endpoint, monkeypatch, tmp_path):
    """A clean emulator and an environment in which every AWS client reaches it, and nothing else."""
    _moto_api(moto_endpoint, "reset")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    runtime.reset_clients()
    keys.forget()
    yield moto_endpoint
    runtime.reset_clients()
    keys.forget()


@pytest.fixture
def unused_port():
    """A loopback port nothing listens on: connections to it are refused at once."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# CI runs the property tests with a fixed seed so that a landing never depends on luck; local runs
# keep exploring new examples.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")


# -- a deployed pipeline, shared by the integration and reliability tiers -----------------------------
# By default the local target, deployed once per test session from the real terraform/ module and
# destroyed at the end (which must leave no process or port behind). Against AWS when asked:
# TAPCTL_TARGET=aws and TAPCTL_TEST_ENV=<deployed environment>; tests that need the emulator's
# control (faults, throttling) are then skipped.


@dataclass
class Deployment:
    env: str
    target: str
    outputs: dict
    endpoint: str = ""  # the emulator's, for the local target
    options: tuple = ()  # tapctl's options that name this deployment
    region: str = "us-east-1"
    secret: str = ""  # the environment's current signing secret: every event is signed as a sender would

    def tapctl(self, command, *args, input=None):
        """``command`` ("plan", or "secret rotate") with this deployment's options, then ``args``."""
        return CliRunner().invoke(main, [*command.split(), *self.options, *args], input=input)

    def post(self, body, **kwargs):
        """POST a body to the endpoint, signed with the environment's secret (``secret=None``: unsigned)."""
        return post_json(self.url, body, **{"secret": self.secret, **kwargs})

    def client(self, service):
        if self.target == "local":
            return shared.client(service, self.endpoint, self.region)
        return boto3.client(service)

    @property
    def url(self):
        return self.outputs["api_endpoint"]


# Settings away from the defaults, so that the record's var-file is what keeps plans empty; a short
# secret cache lets the rotation tests see a new secret in seconds rather than five minutes.
# Every payment-provider source is enabled (tests/integration/test_sources.py).
ITEST_VARIABLES = {"alarm_oldest_message_age_seconds": 900, "signing_secret_cache_seconds": 2,
                   "webhook_sources": {name: {} for name in SOURCES}}
# Each source's secret, set by tapctl secret set --source right after the session's deploy (the smoke test
# exercises every enabled source, and a source without a secret fails it).
SOURCE_SECRETS = {"stripe": "whsec_integration_secret", "adyen": "0f" * 32, "braintree": "itest_public:itest_private",
                  "razorpay": "integration razorpay secret", "square": "integration_square_key"}


def local_options(env, state_dir, project_dir=ROOT):
    """tapctl's options naming a local environment in ``state_dir``; the provider mirror when configured,
    else the public registry."""
    mirror = os.environ.get("TAPCTL_PLUGIN_DIR", "")
    return ["--env", env, "--target", "local", "--state-dir", str(state_dir), "--project-dir", str(project_dir),
            *(["--plugin-dir", mirror] if mirror else [])]


def current_secret(*options):
    """The environment's current signing secret, as its operators read it."""
    result = CliRunner().invoke(main, ["secret", "show", *options, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["current"]


def emulator_state(env, state_dir):
    """What the local emulator of ``env`` was started with (pid, port, endpoints, region)."""
    return emulator.recorded(Settings(project_dir=ROOT, env=env, target="local", state_dir=state_dir).workdir)


def skip_without_provider(result):
    """Skip, with terraform's reason, where neither a mirror nor the public registry gives the provider."""
    if result.exit_code == 3 and "the AWS provider cannot be installed" in result.output:
        unavailable(result.output.strip().splitlines()[-1])


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
        yield Deployment(env, "aws", json.loads(result.stdout), secret=current_secret(env, "--target", "aws"))
        return

    state_dir = tmp_path_factory.mktemp("tapctl-state")
    # The session's deployment carries a var-file: later commands (plan, destroy) rely on its record.
    var_file = state_dir.parent / "itest.tfvars.json"
    var_file.write_text(json.dumps(ITEST_VARIABLES))
    common = local_options("itest", state_dir)
    result = CliRunner().invoke(main, ["deploy", *common, "--var-file", str(var_file), "--auto-approve", "--json"])
    skip_without_provider(result)
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout)["outputs"]
    for name in SOURCES:
        result = CliRunner().invoke(main, ["secret", "set", *common, "--source", name], input=SOURCE_SECRETS[name])
        assert result.exit_code == 0, result.output
    started = emulator_state("itest", state_dir)
    yield Deployment("itest", "local", outputs, started["endpoint"], tuple(common), started["region"],
                     current_secret(*common))

    # A test may have restarted the emulator: check what runs now.
    started = emulator_state("itest", state_dir)
    result = CliRunner().invoke(main, ["destroy", *common, "--auto-approve"])
    assert result.exit_code == 0, result.output
    # Nothing left behind: the emulator's process and port, its workers, its folder.
    try:
        os.kill(started["pid"], 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the emulator still runs after destroy"
    assert not _listening(started["port"]), "something still listens on the emulator's port after destroy"
    for name in ("aws_endpoint", "s3_endpoint"):
        port = int(started.get(name, started["endpoint"]).rsplit(":", 1)[1])
        assert not _listening(port), f"the emulator's {name} still listens after destroy"
    assert not (state_dir / "local" / "itest").exists()


@pytest.fixture
def local_only(deployment):
    if deployment.target != "local":
        pytest.skip("needs the local emulator's control plane")
    return deployment
