"""Environments upgrade in place: an environment deployed by an earlier release of this repository (its
module, its handlers and its own tapctl, taken from the repository's history) plans, with this checkout,
no deletion, no replacement and no data-loss finding; the upgrade then applies, passes the smoke test
and leaves nothing more to change.

``RELEASES`` names the recorded releases. Keep it current: when a release lands, add its commit, so that
every later change (a new resource, a renamed address) is held to what deployed environments run.
"""

import json
import os
import subprocess
import sys
import tarfile

import pytest
from click.testing import CliRunner

from tapctl.cli import main
from tapctl.config import Settings
from tapctl.local import emulator
from tests.conftest import local_options, skip_without_provider
from tests.support import ROOT

# Released commits, oldest first.
RELEASES = (
    "8574ba9b77d0fd8741df074281f7c477ff58b630",  # issue 17: the pipeline at its calls floor
    "28da0bbd409fd1d1e3a583201ae8922c2c5c7022",  # issue 18: the router's lease, the emulator's guard
    "cb928d9b1c082a5101c381fb9fa80408355a92ce",  # issue 19: one way in, one list, one owner
    "74dff6220df3f870536a4af8c2b5e0d2c754a00f",  # issue 20: the payment providers' sources
)
REGION = "us-east-1"  # the local target's
# Replaced by design, holding nothing: an API Gateway deployment is an immutable snapshot of the API,
# so every change to the API is a new one, created before the old one goes (create_before_destroy), and
# the stage switches to it without a moment offline.
REPLACED_BY_DESIGN = {"aws_api_gateway_deployment.this"}


def _commit_or_skip(commit):
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"commit {commit[:7]} is not in this clone's history (a shallow clone?): nothing to upgrade from")


def _checkout(commit, folder):
    """The release's files (module, handlers, tapctl) in ``folder``, as ``git archive`` gives them."""
    archive = folder.parent / f"{commit[:7]}.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", f"--output={archive}", commit], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _released_tapctl(release, *args):
    """The release's own tapctl (its CLI, its emulator, its packaging), run from its folder."""
    code = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import tapctl; "
            "assert tapctl.__file__.startswith(sys.path[0]), tapctl.__file__; "
            "from tapctl.cli import main; main(prog_name='tapctl')")
    return subprocess.run([sys.executable, "-c", code, str(release), *args], cwd=release, capture_output=True,
                          text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=900)


@pytest.mark.parametrize("commit", RELEASES, ids=[commit[:7] for commit in RELEASES])
def test_an_environment_of_an_earlier_release_upgrades_in_place(commit, tmp_path):
    _commit_or_skip(commit)
    release = _checkout(commit, tmp_path / "release")
    env, state_dir = f"up-{commit[:7]}", tmp_path / "state"
    # The environment is the release's (its module, handlers and tapctl); "AWS" is today's, as it is for an
    # environment on AWS: the emulator runs this checkout's code, started before the release deploys into it
    # (the release's tapctl finds it running and uses it).
    workdir = Settings(project_dir=release, env=env, target="local", state_dir=state_dir).workdir
    emulator.start(workdir, REGION)
    deployed = _released_tapctl(release, "deploy", *local_options(env, state_dir, project_dir=release), "--auto-approve")
    if deployed.returncode != 0:
        emulator.stop(workdir)
    if deployed.returncode == 3 and "the AWS provider cannot be installed" in deployed.stderr:
        skip_without_provider(CliRunner().invoke(main, ["deploy", *local_options(env, state_dir), "--auto-approve"]))
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    options = local_options(env, state_dir)
    try:
        # This checkout's module against the release's state: nothing deleted, nothing replaced.
        planned = CliRunner().invoke(main, ["plan", *options, "--summary", "json"])
        assert planned.exit_code == 0, planned.output
        review = json.loads(planned.stdout)
        assert review["data_loss"] == []
        lost = [(change["address"], change["action"]) for change in review["changes"]
                if change["action"] in ("delete", "replace", "forget")
                and change["address"] not in REPLACED_BY_DESIGN]
        assert lost == [], f"upgrading from {commit[:7]} deletes or replaces: {lost}"
        print(f"upgrade from {commit[:7]}: {review['counts']}; replaced by design: "
              f"{[change['address'] for change in review['changes'] if change['action'] == 'replace']}")

        # The upgrade itself, then the pipeline still works and nothing is left to change.
        upgraded = CliRunner().invoke(main, ["deploy", *options, "--auto-approve", "--smoke"])
        assert upgraded.exit_code == 0, upgraded.output
        again = CliRunner().invoke(main, ["plan", *options, "--json"])
        assert again.exit_code == 0, again.output
        counts = json.loads(again.stdout)
        assert (counts["add"], counts["change"], counts["destroy"]) == (0, 0, 0), again.output
    finally:
        destroyed = CliRunner().invoke(main, ["destroy", *options, "--auto-approve"])
        assert destroyed.exit_code == 0, destroyed.output
