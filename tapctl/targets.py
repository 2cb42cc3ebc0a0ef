"""Where an environment runs: AWS, or the local emulator. Two classes, one interface; commands pick one
from ``--target`` once (``for_settings``) and never ask which they hold.

A target makes itself reachable (``start``), says which account and region a command runs against
(``identity``), adds what terraform needs to reach it (``terraform_files``, ``terraform_variables``),
gives AWS clients (``client``), adapts the module's outputs (``outputs``) and takes everything down
(``destroy``).

``open_environment`` is the common way in: terraform found, target started, identity checked against
the environment's, packages built, the working copy prepared and initialised; a failure before anything
was applied stops what it started.
"""

import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tapctl.errors import EndpointUnreachable, NoCredentials, TapctlError
from tapctl.identity import Identity, check_account, region_for
from tapctl.local import emulator
from tapctl.record import RECORD_FILE


class Target:
    name = ""
    durable = True  # its resources outlive this machine: state kept only here is at risk
    default_region = None  # for an environment with no region from flags, tapctl.toml or AWS config

    def __init__(self, settings, progress=None):
        self.settings = settings
        self.progress = progress or (lambda line: None)
        self.region = settings.region or None
        self._clients = {}

    @classmethod
    def holds_environment(cls, workdir):
        """Whether ``workdir`` holds an environment of this target: a record or a local state (a folder
        left by a failed first init is none)."""
        from tapctl.terraform import STATE_FILE

        return any((Path(workdir) / name).is_file() for name in (RECORD_FILE, STATE_FILE))

    def start(self, region):
        """Make the target reachable in ``region``; True when this call started something to stop on failure."""
        self.region = region
        return False

    def stop(self):
        """Undo ``start`` (a command that failed before applying anything)."""

    def client(self, service):
        if service not in self._clients:
            self._clients[service] = self._make_client(service)
        return self._clients[service]

    def _make_client(self, service):
        raise NotImplementedError

    def identity(self):
        """The account and region this command's credentials reach (one STS call)."""
        import botocore.exceptions

        try:
            caller = self.client("sts").get_caller_identity()
        except botocore.exceptions.NoCredentialsError:
            raise NoCredentials("no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY") from None
        except botocore.exceptions.EndpointConnectionError as error:
            raise EndpointUnreachable(f"AWS STS is unreachable: {error}") from None
        except botocore.exceptions.ClientError as error:
            raise NoCredentials(f"AWS credentials were refused: {error.response['Error'].get('Message', error)}") from None
        except botocore.exceptions.BotoCoreError as error:
            raise NoCredentials(f"no usable AWS credentials: {error}") from None
        return Identity(account=caller["Account"], region=self.region)

    def terraform_files(self):
        return {}

    def terraform_variables(self, identity):
        return {"aws_region": identity.region, "aws_account_id": identity.account}

    def outputs(self, outputs):
        return outputs

    def reachable(self):
        """Whether the target can still hold this environment's resources (destroy then needs terraform)."""
        return True

    def forget(self):
        """Drop what is kept for an environment whose resources are gone with the target itself."""

    def destroy(self, terraform):
        terraform.destroy()

    def state_description(self):
        if self.settings.backend_config:
            return f"S3 backend of {self.settings.backend_config}, key tapctl/{self.settings.env}/terraform.tfstate"
        return f"local state file {self.settings.workdir / 'terraform.tfstate'}"


class AwsTarget(Target):
    name = "aws"

    def __init__(self, settings, progress=None):
        super().__init__(settings, progress)
        self._session = None

    def _make_client(self, service):
        import boto3

        if self._session is None:  # one session per command: the configuration as it is now
            self._session = boto3.session.Session(region_name=self.region)
        return self._session.client(service)


class LocalTarget(Target):
    """The emulator of this environment (tapctl.local): a moto server with the data plane moto lacks."""

    name = "local"
    durable = False  # the emulator's resources live and die with its process on this machine
    default_region = "us-east-1"

    def __init__(self, settings, progress=None):
        super().__init__(settings, progress)
        self._state = None

    @classmethod
    def holds_environment(cls, workdir):
        return super().holds_environment(workdir) or emulator.started_in(workdir)

    @classmethod
    def environments(cls, state_base):
        """Every local environment under ``state_base`` and whether its emulator runs (tapctl local status)."""
        return emulator.status(Path(state_base) / cls.name)

    def start(self, region):
        self.region = region
        running = emulator.running(self.settings.workdir)
        if running and running["region"] == region:
            self._state = running
            if "s3_endpoint" not in running:  # its S3 refuses the archive's writes (tapctl.local.aws)
                self.progress(f"warning: the local emulator of {self.settings.env} was started by an earlier tapctl "
                              f"and cannot keep the evidence archive: tapctl destroy --env {self.settings.env} "
                              "--target local, then deploy again")
            return False
        if running:  # only an environment that was never deployed gets here (its record pins the region)
            emulator.stop(self.settings.workdir)
        self._state = emulator.start(self.settings.workdir, region, progress=self.progress)
        return True

    def stop(self):
        if emulator.stop(self.settings.workdir):
            self.progress(f"local emulator of {self.settings.env} stopped")

    @property
    def state(self):
        if self._state is None:
            self._state = emulator.running(self.settings.workdir)
            if not self._state:
                raise EndpointUnreachable(
                    f"the local emulator of {self.settings.env} is not running: "
                    f"run `tapctl deploy --env {self.settings.env} --target local` to start it again"
                )
            self.region = self._state["region"]
        return self._state

    def _make_client(self, service):
        return emulator.client_for(self.state, service)

    def terraform_files(self):
        return {emulator.OVERRIDE_FILE: emulator.provider_override(self.state["endpoint"], self.state["region"])}

    def outputs(self, outputs):
        return emulator.local_outputs(outputs, self.state["endpoint"])

    def reachable(self):
        return bool(emulator.running(self.settings.workdir))

    def forget(self):
        self.progress(f"the local emulator of {self.settings.env} is not running: removing its local state only")
        self.stop()
        shutil.rmtree(self.settings.workdir, ignore_errors=True)

    def destroy(self, terraform):
        terraform.destroy()
        self.stop()
        shutil.rmtree(self.settings.workdir, ignore_errors=True)


TARGET_CLASSES = {target.name: target for target in (AwsTarget, LocalTarget)}


def for_settings(settings, progress=None):
    return TARGET_CLASSES[settings.target](settings, progress)


def deployed(settings, progress=None):
    """(target, outputs) of a deployed environment, for the commands that operate it; one clear line
    when it has never been deployed from here."""
    from tapctl.terraform import Terraform

    terraform = Terraform(settings, progress=progress)  # fails first if terraform is missing
    if not terraform.copy.is_dir():
        raise TapctlError(f"environment {settings.env} has no state here ({settings.workdir}): deploy it first")
    outputs = terraform.output()
    if not outputs:
        raise TapctlError(f"environment {settings.env} has no outputs: deploy it first")
    target = for_settings(settings, progress)
    return target, target.outputs(outputs)


@dataclass
class Opened:
    settings: object
    target: Target
    identity: Identity
    terraform: object
    started: bool  # this command started the target (the local emulator)
    applied: bool = False  # set once anything may have changed: a failure then keeps the target running

    def outputs(self):
        """The environment's outputs as this target serves them."""
        return self.target.outputs(self.terraform.output())


@contextmanager
def open_environment(settings, progress, *, live=None, lock_file=None, migrate_state=False):
    """The environment ready for terraform; on a failure before anything was applied, what this command
    started is stopped again (a local deploy that cannot install the provider leaves no emulator behind)."""
    from tapctl import package
    from tapctl.terraform import Terraform

    terraform = Terraform(settings, progress=progress, live=live)  # fails first if terraform is missing
    target = for_settings(settings, progress)
    region = region_for(settings, target.default_region)
    started = target.start(region)
    opened = None
    try:
        identity = target.identity()
        check_account(settings, identity)
        packages = package.build(settings.project_dir, settings.build_dir)
        terraform.prepare(
            packages,
            variables=target.terraform_variables(identity),
            extra_files=target.terraform_files(),
            lock_file=lock_file,
        )
        terraform.init(migrate_state=migrate_state)
        opened = Opened(settings, target, identity, terraform, started)
        yield opened
    except BaseException:
        if started and not (opened and opened.applied):
            target.stop()
        raise
