"""The emulator dies mid-run (a crash, a reboot): what the user sees, and that tapctl says how to
recover and then does. Runs last in the session: it replaces the session's emulator."""

import json
import os
import signal
import time

from tapctl.config import SOURCES
from tests.conftest import SOURCE_SECRETS, current_secret, emulator_state
from tests.support import sample


def test_a_restarted_emulator_is_reported_and_a_deploy_recovers(local_only):
    deployment = local_only
    state_dir = deployment.options[deployment.options.index("--state-dir") + 1]
    pid = emulator_state(deployment.env, state_dir)["pid"]
    os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        try:
            os.waitpid(pid, os.WNOHANG)
            os.kill(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            break
        time.sleep(0.1)

    result = deployment.tapctl("output")
    assert result.exit_code == 7
    assert result.output.strip().splitlines()[-1] == (
        f"Error: the local emulator of {deployment.env} is not running: "
        f"run `tapctl deploy --env {deployment.env} --target local` to start it again"
    )
    assert "Traceback" not in result.output
    assert deployment.tapctl("smoke-test").exit_code == 7

    result = deployment.tapctl("deploy", "--auto-approve")
    assert result.exit_code == 0, result.output
    # A new emulator is a new account: its secret has a new value, made by the deploy; the providers'
    # secrets are gone with it, and the smoke test says so for each source until they are set again.
    assert f"{deployment.env}: created its first webhook signing secret" in result.stderr
    result = deployment.tapctl("smoke-test")
    assert result.exit_code == 1
    assert all(f"FAIL  secret {name}" in result.stdout for name in SOURCES), result.stdout
    for name in SOURCES:
        assert deployment.tapctl("secret set", "--source", name, input=SOURCE_SECRETS[name]).exit_code == 0
    result = deployment.tapctl("smoke-test")
    assert result.exit_code == 0, result.output
    assert f"{13 + 10 * len(SOURCES)}/{13 + 10 * len(SOURCES)} checks passed" in result.stdout
    deployment.outputs = json.loads(deployment.tapctl("output", "--json").stdout)
    deployment.secret = current_secret(*deployment.options)
    assert deployment.post(sample("payment"))[0] == 200
