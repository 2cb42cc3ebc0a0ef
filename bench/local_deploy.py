"""Benchmark: the local target's full deploy from nothing, a no-op update and a destroy, against the
floor measured in the same run (terraform applying just one queue and its DLQ to an emulator).

Each run measures the floor and then the full cycle, so both see the same machine; the table gives
medians over BENCH_DEPLOY_RUNS runs (default 3; about 2.5 minutes each).

Run with `make bench-deploy` (needs terraform, and the AWS provider from a mirror or the registry). Prints a table and writes
bench/results/local_deploy.json. A benchmark, not a test: it reports, it does not judge.
"""

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tapctl.local import emulator  # noqa: E402

FLOOR_MODULE = """
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws" }}
  }}
}}

{provider}

module "queue" {{
  source                        = "{queue_module}"
  name                          = "floor-queue"
  dlq_name                      = "floor-dlq"
  message_retention_seconds     = 604800
  visibility_timeout_seconds    = 300
  dlq_message_retention_seconds = 604800
  max_receive_count             = 3
  arn_prefix                    = "arn:aws:sqs:us-east-1:123456789012"
}}
"""


def timed(command, **kwargs):
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - started


def floor(terraform, plugin_dir, scratch):
    workdir = scratch / "floor"
    state = emulator.start(workdir / "emulator", "us-east-1")
    try:
        module = workdir / "module"
        module.mkdir(parents=True)
        (module / "main.tf").write_text(
            FLOOR_MODULE.format(
                provider=emulator.provider_override(state["endpoint"], state["region"]),
                queue_module=ROOT / "terraform" / "modules" / "queue",
            )
        )
        source = [f"-plugin-dir={plugin_dir}"] if plugin_dir else []
        subprocess.run([terraform, f"-chdir={module}", "init", *source, "-input=false"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return timed([terraform, f"-chdir={module}", "apply", "-auto-approve", "-input=false"])
    finally:
        emulator.stop(workdir / "emulator")


def main():
    terraform = shutil.which(os.environ.get("TAPCTL_TERRAFORM_BIN") or "terraform") or shutil.which("tofu")
    plugin_dir = os.environ.get("TAPCTL_PLUGIN_DIR", "")  # else the public registry
    if not terraform:
        sys.exit("needs terraform on PATH")
    tapctl = [sys.executable, "-m", "tapctl.cli"]
    runs = []
    for _ in range(int(os.environ.get("BENCH_DEPLOY_RUNS", "3"))):
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            env = {**os.environ, "TAPCTL_STATE_DIR": str(scratch / "state"), "TAPCTL_PLUGIN_DIR": plugin_dir}
            common = ["--env", "bench", "--target", "local"]
            run = {"floor_one_queue_and_dlq_s": floor(terraform, plugin_dir, scratch)}
            run["full_deploy_s"] = timed([*tapctl, "deploy", *common, "--auto-approve"], env=env, cwd=ROOT)
            run["noop_update_s"] = timed([*tapctl, "deploy", *common, "--auto-approve"], env=env, cwd=ROOT)
            run["destroy_s"] = timed([*tapctl, "destroy", *common, "--auto-approve"], env=env, cwd=ROOT)
        run["full_deploy_over_floor_s"] = run["full_deploy_s"] - run["floor_one_queue_and_dlq_s"]
        runs.append(run)
    results = {name: round(statistics.median(run[name] for run in runs), 2) for name in runs[0]}
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    print(f"{'measure (median of ' + str(len(runs)) + ')':<28} {'seconds':>8}   goal")
    goals = {"full_deploy_over_floor_s": "<= 10", "noop_update_s": "< 10", "destroy_s": "< 20"}
    for name, value in results.items():
        print(f"{name:<28} {value:8.1f}   {goals.get(name, '')}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    document = {"machine": machine, "runs": len(runs), "results": results, "each_run": runs}
    (out / "local_deploy.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
