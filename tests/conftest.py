"""Fixtures shared by the tiers: a real moto server on loopback, reached through AWS_ENDPOINT_URL."""

import json
import os
import urllib.request

import pytest

from handlers import runtime

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
    yield moto_endpoint
    runtime.reset_clients()


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
