"""Runs the terraform (or tofu) executable for one environment and reads its machine-readable output.

Each environment has a folder of its own (``Settings.workdir``): a working copy of the module (so
tapctl's backend and provider files never touch ``terraform/``), its ``.terraform`` data, its local
state or its own key in a remote backend, and its saved plans. Two environments share nothing.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tapctl.errors import (
    EndpointUnreachable,
    NoCredentials,
    PlanMismatch,
    ProviderUnavailable,
    StateLocked,
    TerraformFailed,
    ToolMissing,
)
from tapctl.progress import SHOWN, UiStream

# What of the module a working copy needs; tests/ and local files stay behind.
MODULE_IGNORE = shutil.ignore_patterns("tests", ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfplan", "README.md")
BACKEND_FILE = "tapctl_backend.tf"
VARS_FILE = "tapctl.tfvars.json"
LOCK_FILE = ".terraform.lock.hcl"
# The zips are copied into the working copy and named relative to it, so a saved plan holds no absolute
# path and applies from another checkout (or CI job) with the same state.
PACKAGES_DIR = "packages"
STATE_FILE = "terraform.tfstate"
# Where terraform keeps providers downloaded from the registry, shared by every environment of this
# machine (terraform's documented place); unused with a mirror.
PLUGIN_CACHE = Path("~/.terraform.d/plugin-cache")


def find_binary(preferred=""):
    """The terraform executable: the one asked for, else ``terraform``, else ``tofu`` on PATH."""
    if preferred:
        found = shutil.which(preferred)
        if not found:
            raise ToolMissing(f"terraform executable not found: {preferred} (from --terraform-bin or TAPCTL_TERRAFORM_BIN)")
        return found
    found = shutil.which("terraform") or shutil.which("tofu")
    if not found:
        raise ToolMissing(
            "terraform not found: install terraform (>= 1.5) or OpenTofu, or name it with --terraform-bin"
        )
    return found


@dataclass(frozen=True)
class PlanSummary:
    add: int
    change: int
    destroy: int
    environment: str
    plan_file: str | None  # None when planned and applied in one run

    @property
    def has_changes(self):
        return bool(self.add or self.change or self.destroy)

    def line(self):
        if not self.has_changes:
            return f"{self.environment}: no changes"
        return f"{self.environment}: {self.add} to add, {self.change} to change, {self.destroy} to destroy"

    def as_dict(self):
        return {
            "environment": self.environment,
            "add": self.add,
            "change": self.change,
            "destroy": self.destroy,
            "plan_file": self.plan_file,
        }


_PROVIDER_FAILURES = (
    "Failed to query available provider packages", "Failed to install provider", "Failed to resolve provider packages",
    "could not connect to registry", "Inconsistent dependency lock file", "provider registry",
)

# First error diagnostic -> the failure a user can act on. Order matters: most specific first.
_FAILURES = (
    (("Error acquiring the state lock", "state lock"), StateLocked, "the state of {env} is locked by another run"),
    (
        ("No valid credential sources found", "failed to refresh cached credentials", "InvalidClientTokenId",
         "no EC2 IMDS role found", "get identity: get credentials"),
        NoCredentials,
        "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    ),
    (_PROVIDER_FAILURES, ProviderUnavailable, "the AWS provider cannot be installed"),
    (("connection refused", "dial tcp", "no such host", "i/o timeout", "request send failed"),
     EndpointUnreachable, "an AWS endpoint is unreachable"),
)


def _classify(command, env, message):
    detail = " ".join(line.strip() for line in message.strip().splitlines()[:2]) or "no message"
    if len(detail) > 300:
        detail = detail[:297] + "..."
    for needles, error, text in _FAILURES:
        if any(needle.lower() in message.lower() for needle in needles):
            return error(f"{text.format(env=env)}: {detail}")
    return TerraformFailed(f"terraform {command} failed for {env}: {detail}")


class Terraform:
    """One environment's terraform: prepare the working copy, then init / plan / apply / destroy / output."""

    def __init__(self, settings, progress=None, live=None):
        self.settings = settings
        self.binary = find_binary(settings.terraform_bin)
        self.progress = progress or (lambda line: None)
        self.live = live  # rewrites one line on a terminal; None: every line as it comes (--verbose, CI)
        self.workdir = Path(settings.workdir).resolve()
        self.copy = self.workdir / "module"

    # -- working copy -------------------------------------------------------------------------------

    def prepare(self, packages, variables=None, extra_files=None, lock_file=None):
        """Refresh the working copy from the module: tapctl's backend and variables files, the zips, any
        ``extra_files`` (name -> text) of the target, and the environment's provider lock file (or
        ``lock_file``, the one a saved plan was made with)."""
        module = Path(self.settings.module)
        if not any(module.glob("*.tf")):
            raise TerraformFailed(f"no terraform module in {module}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.copy.exists():
            shutil.rmtree(self.copy)
        shutil.copytree(module, self.copy, ignore=MODULE_IGNORE)
        (self.copy / BACKEND_FILE).write_text(self._backend_block())
        for name, text in (extra_files or {}).items():
            (self.copy / name).write_text(text)
        lock = lock_file if lock_file is not None else _read_bytes(self.workdir / LOCK_FILE)
        if lock is not None:
            (self.copy / LOCK_FILE).write_bytes(lock)
        (self.copy / PACKAGES_DIR).mkdir()
        values = {"environment_suffix": self.settings.env, **(variables or {})}
        if self.settings.protected is not None:
            values["protected"] = self.settings.protected
        if self.settings.sources is not None:
            values["webhook_sources"] = self.settings.sources
        for package in packages:
            relative = f"{PACKAGES_DIR}/{Path(package.path).name}"
            shutil.copyfile(package.path, self.copy / relative)
            values[package.variable] = relative
        (self.workdir / VARS_FILE).write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")

    def _backend_block(self):
        if self.settings.backend_config:
            return 'terraform {\n  backend "s3" {}\n}\n'
        # Relative to the working copy, so that a saved plan names no absolute path.
        return f'terraform {{\n  backend "local" {{\n    path = "../{STATE_FILE}"\n  }}\n}}\n'

    # -- commands -----------------------------------------------------------------------------------

    def init(self, migrate_state=False):
        args = ["init", "-input=false", "-no-color"]
        args += ["-migrate-state", "-force-copy"] if migrate_state else ["-reconfigure"]
        plugin_dir = self.settings.plugin_dir
        if plugin_dir:
            if not (Path(plugin_dir) / "registry.terraform.io").is_dir():
                raise ProviderUnavailable(
                    f"{plugin_dir} is not a provider mirror (it has no registry.terraform.io folder): "
                    f"fix --plugin-dir / TAPCTL_PLUGIN_DIR, or unset it to use the public registry"
                )
            args.append(f"-plugin-dir={plugin_dir}")
        if self.settings.backend_config:
            config = Path(self.settings.backend_config).resolve()
            if not config.is_file():
                raise TerraformFailed(f"backend config file not found: {config}")
            args += [f"-backend-config={config}", f"-backend-config=key=tapctl/{self.settings.env}/{STATE_FILE}"]
        self.progress(f"terraform init ({self.settings.env}, provider from {plugin_dir or 'the public registry'})")
        try:
            self._run(args, stream_json=False)
        except ProviderUnavailable as error:
            raise ProviderUnavailable(self._provider_remedy(error)) from None
        if (self.copy / LOCK_FILE).is_file():  # kept beside the copy, which the next command recreates
            shutil.copyfile(self.copy / LOCK_FILE, self.workdir / LOCK_FILE)

    def _provider_remedy(self, error):
        detail = error.message.split(": ", 1)[-1]
        # terraform wraps "could not connect to <host>: ...: <reason>" over lines; the reason is its end.
        for paragraph in getattr(error, "output", "").split("\n\n"):
            unreachable = re.search(r"could not connect to ([\w.-]+): (.*)", " ".join(paragraph.split()))
            if unreachable:
                detail = f"{unreachable.group(1)}: {unreachable.group(2).rsplit(': ', 1)[-1]}"
                break
        if self.settings.plugin_dir:
            return (f"the AWS provider cannot be installed from the mirror {self.settings.plugin_dir}: {detail} "
                    f"(it needs registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>; unset --plugin-dir / "
                    f"TAPCTL_PLUGIN_DIR to use the public registry)")
        return (f"the AWS provider cannot be installed: no mirror is configured and the public registry is "
                f"unreachable ({detail}): connect to the internet, or pass --plugin-dir / TAPCTL_PLUGIN_DIR "
                f"naming a provider mirror")

    def plan(self, plan_file, destroy=False):
        plan_file = Path(plan_file).resolve()
        plan_file.parent.mkdir(parents=True, exist_ok=True)
        args = ["plan", "-input=false", "-json", self._lock_timeout(), f"-out={plan_file}", *self._var_args()]
        if destroy:
            args.append("-destroy")
        return self._plan_summary(self._run(args), str(plan_file))

    def deployed(self):
        """Whether the environment's state holds any resource."""
        if self.settings.backend_config:
            text = self._run(["state", "pull"], stream_json=False)
        else:
            try:
                text = (self.workdir / STATE_FILE).read_text()
            except FileNotFoundError:
                return False
        try:
            return bool(json.loads(text or "{}").get("resources"))
        except (ValueError, AttributeError):
            return True  # unreadable: assume there is something to protect

    def _plan_summary(self, messages, plan_file):
        counts = {"add": 0, "change": 0, "remove": 0}
        for message in messages:
            if message.get("type") == "change_summary" and message.get("changes", {}).get("operation") == "plan":
                counts.update(message["changes"])
        return PlanSummary(counts["add"], counts["change"], counts["remove"], self.settings.env, plan_file)

    def show(self, plan_file):
        """``terraform show -json`` of a saved plan, parsed."""
        shown = self._run(["show", "-json", "-no-color", str(Path(plan_file).resolve())], stream_json=False)
        try:
            document = json.loads(shown)
        except ValueError:
            raise PlanMismatch(f"{plan_file} is not a terraform plan") from None
        if not isinstance(document, dict) or "environment_suffix" not in document.get("variables", {}):
            raise PlanMismatch(f"{plan_file} is not a plan of this module")
        return document

    def check_plan(self, plan_file, identity):
        """Refuse a saved plan made for another environment, account or region."""
        variables = self.show(plan_file)["variables"]
        planned = {name: (variables.get(name) or {}).get("value")
                   for name in ("environment_suffix", "aws_account_id", "aws_region")}
        expected = {"environment_suffix": self.settings.env, "aws_account_id": identity.account,
                    "aws_region": identity.region}
        for name, value in planned.items():
            if value is not None and value != expected[name]:
                what = {"environment_suffix": "environment"}.get(name, name.removeprefix("aws_").replace("_", " "))
                raise PlanMismatch(f"{plan_file} is a plan for {what} {value!r}, not {expected[name]!r}")

    def apply(self, plan_file, total=None):
        # A saved plan was reviewed when it was made: show what is applied, not the plan again.
        self._run(["apply", "-input=false", "-json", self._lock_timeout(), str(Path(plan_file).resolve())],
                  show=SHOWN - {"planned_change", "resource_drift"}, total=total)

    def destroy(self):
        self._run(["destroy", "-input=false", "-json", self._lock_timeout(), "-auto-approve", *self._var_args()])

    def output(self):
        raw = self._run(["output", "-json", "-no-color"], stream_json=False)
        try:
            return {name: entry["value"] for name, entry in json.loads(raw or "{}").items()}
        except (ValueError, TypeError, KeyError):
            raise TerraformFailed("terraform output did not return JSON") from None

    # -- running ------------------------------------------------------------------------------------

    def _var_args(self):
        # tapctl's own file last: the environment's name, account and region are not a var-file's to change.
        return [*(f"-var-file={path}" for path in self.settings.var_files), f"-var-file={self.workdir / VARS_FILE}"]

    def _lock_timeout(self):
        # Wait for another run's lock (a CI job, a colleague) rather than fail at once.
        return f"-lock-timeout={self.settings.lock_timeout}"

    def _environment(self):
        environment = {
            **os.environ,
            "TF_DATA_DIR": str(self.workdir / ".terraform"),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
        if not self.settings.plugin_dir and "TF_PLUGIN_CACHE_DIR" not in environment:
            cache = PLUGIN_CACHE.expanduser()
            try:
                cache.mkdir(parents=True, exist_ok=True)
                environment["TF_PLUGIN_CACHE_DIR"] = str(cache)
            except OSError:
                pass  # no cache: each environment downloads the provider itself
        return environment

    def _run(self, args, stream_json=True, show=SHOWN, total=None):
        """Run terraform in the working copy. With ``stream_json``, show the ``show`` kinds of its UI
        stream as progress and return the messages; otherwise return stdout. Everything terraform says
        also goes to the environment's terraform.log. A failure raises the matching tapctl error."""
        command = [self.binary, f"-chdir={self.copy}", *args]
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "terraform.log", "a", encoding="utf-8")
        log.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} terraform {' '.join(args)}\n")
        try:
            return self._run_logged(command, args, stream_json, show, total, log)
        finally:
            log.close()

    def _run_logged(self, command, args, stream_json, show, total, log):
        # stderr goes to a file: read only after stdout ends, a pipe would fill up (TF_LOG writes
        # there) and block terraform while tapctl waits on its stdout.
        with tempfile.TemporaryFile(mode="w+") as stderr_file:
            try:
                process = subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=stderr_file,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    env=self._environment(),
                )
            except OSError as exc:
                raise ToolMissing(f"cannot run {self.binary}: {exc.strerror}") from None
            messages, plain = [], []
            ui = UiStream(self.progress, show, live=self.live, total=total)
            for line in process.stdout:
                log.write(line)
                if not stream_json:
                    plain.append(line)
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    plain.append(line)
                    continue
                messages.append(message)
                ui.show(message)
            ui.finish()
            failed = process.wait() != 0
            stderr_file.seek(0)
            stderr = stderr_file.read()
            log.write(stderr)
        if failed:
            text = "\n".join(ui.errors) or _first_error(stderr) or _first_error("".join(plain)) or stderr
            error = _classify(args[0], self.settings.env, text)
            error.output = stderr + "".join(plain)  # all of it, for a remedy that needs more than the first error
            raise error
        return messages if stream_json else "".join(plain)

def _first_error(text):
    lines = [line.strip(" │╷╵\t") for line in text.splitlines()]
    for index, line in enumerate(lines):
        if line.startswith("Error: ") and not line.startswith(_INIT_PREAMBLE):
            detail = next((rest for rest in lines[index + 1 :] if rest), "")
            return f"{line[len('Error: '):]}: {detail}" if detail else line[len("Error: ") :]
    return ""


# init's own heading before the configuration errors that it then lists.
_INIT_PREAMBLE = "Error: Terraform encountered problems during initiali"


def _read_bytes(path):
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def plan_lock_file(plan_file):
    """The provider lock file a saved plan was made with (a plan file is a zip holding it), or None."""
    import zipfile

    try:
        with zipfile.ZipFile(plan_file) as plan:
            return plan.read(LOCK_FILE)
    except (OSError, KeyError, zipfile.BadZipFile):
        return None

