"""Starts, finds and stops the emulator process of one local environment.

One emulator per environment: environments never share a backend, and destroying one stops only
its process. Its pid, port and log live in the environment's folder (``Settings.workdir``: STATE_FILE,
LOG_FILE), next to terraform's working copy and state. Only this module and tapctl.targets.LocalTarget
know these files.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from tapctl.errors import EndpointUnreachable
from tapctl.local import shared

STATE_FILE = "emulator.json"
LOG_FILE = "emulator.log"
OVERRIDE_FILE = "tapctl_local_override.tf"
# Every service the module's resources use; the provider reaches each through the emulator.
SERVICES = ("apigateway", "cloudwatch", "dynamodb", "events", "iam", "kms", "lambda", "logs", "s3",
            "secretsmanager", "sns", "sqs", "sts")


def _health(port, timeout=1.0):
    """The emulator's health answer ({"ok": true, "aws_endpoint": ...}), or None when it does not answer."""
    answer = shared.health(f"http://127.0.0.1:{port}", timeout=timeout)
    try:
        return None if answer is None else json.loads(answer or b"{}")
    except ValueError:
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded(workdir):
    """The state the environment's emulator was started with ({pid, port, endpoint, aws_endpoint,
    region}), running or not; None when none was started here."""
    try:
        return json.loads((Path(workdir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def started_in(workdir):
    """Whether an emulator was started for the environment of ``workdir`` (and not stopped since)."""
    return (Path(workdir) / STATE_FILE).is_file()


def running(workdir):
    """The running emulator's {pid, port, ...} for this environment, or None."""
    state = recorded(workdir)
    if state and _alive(state["pid"]) and _health(state["port"]) is not None:
        return state
    return None


def start(workdir, region, progress=lambda line: None, retry_delay=1.0):
    """The environment's emulator in ``region``, started unless it already runs; returns its state."""
    workdir = Path(workdir)
    state = running(workdir)
    if state:
        return state
    workdir.mkdir(parents=True, exist_ok=True)
    port = shared.free_port()
    log = open(workdir / LOG_FILE, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tapctl.local.server", "--port", str(port), "--region", region,
         "--workdir", str(workdir), "--retry-delay", str(retry_delay)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives tapctl's exit; destroy stops it
    )
    endpoint = f"http://127.0.0.1:{port}"
    answer = shared.wait_healthy(endpoint, process, timeout=60)
    if answer is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        raise EndpointUnreachable(f"the local emulator did not start (see {workdir / LOG_FILE})")
    health = json.loads(answer or b"{}")
    # The AWS APIs' own endpoint, for the functions' calls and benchmarks; everything else uses ``endpoint``.
    state = {"pid": process.pid, "port": port, "endpoint": endpoint, "aws_endpoint": health.get("aws_endpoint", endpoint),
             "s3_endpoint": health.get("s3_endpoint", health.get("aws_endpoint", endpoint)),
             "region": region}
    (workdir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    progress(f"local emulator started on {state['endpoint']} (pid {process.pid})")
    return state


def stop(workdir):
    """Stop the environment's emulator and its function workers; True if one was running."""
    workdir = Path(workdir)
    state = recorded(workdir)
    if state is None:
        return False
    pid = state["pid"]
    was_running = _alive(pid)
    if was_running:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(pid)
    (workdir / STATE_FILE).unlink(missing_ok=True)
    return was_running


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def provider_override(endpoint, aws_region):
    """Provider settings that point the real module at the emulator (written into tapctl's copy only)."""
    endpoints = "\n".join(f"    {service} = {json.dumps(endpoint)}" for service in SERVICES)
    return (
        "# Written by tapctl for the local target; never part of terraform/.\n"
        'provider "aws" {\n'
        f"  region                      = {json.dumps(aws_region)}\n"
        f"  access_key                  = {json.dumps(shared.FAKE_KEY)}\n"
        f"  secret_key                  = {json.dumps(shared.FAKE_KEY)}\n"
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  s3_use_path_style           = true\n"
        "  endpoints {\n"
        f"{endpoints}\n"
        "  }\n"
        "}\n"
    )


def local_outputs(outputs, endpoint):
    """The module's outputs with an api_endpoint (and each source's URL) that work on this machine, and no
    AWS console link."""
    local = dict(outputs)
    if "dashboard_url" in local:
        local["dashboard_url"] = None
    if {"api_id", "api_stage_name", "api_endpoint"} <= set(outputs):
        stage = outputs["api_stage_name"]

        def here(url):
            path = urlparse(url).path.removeprefix(f"/{stage}")
            return f"{endpoint}/restapis/{outputs['api_id']}/{stage}/_user_request_{path}"

        local["api_endpoint"] = here(outputs["api_endpoint"])
        if isinstance(outputs.get("webhook_sources"), dict):
            local["webhook_sources"] = {name: {**source, "url": here(source["url"])}
                                        for name, source in outputs["webhook_sources"].items()}
    return local


def client_for(state, service):
    """A boto3 client for ``service`` of the emulator described by ``state``."""
    return shared.client(service, state["endpoint"], state["region"])


def status(environments_dir):
    """Every local environment (a folder of ``environments_dir``) with its emulator state."""
    found = []
    for folder in sorted(Path(environments_dir).glob("*")):
        if folder.is_dir():
            state = running(folder)
            found.append({"environment": folder.name, "running": bool(state), **(state or {})})
    return found
