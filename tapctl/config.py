"""What every command needs to know: the project, the environment, the target and the tools.

The environment-name rule lives here for tapctl and in terraform/variables.tf for terraform;
tests/unit/test_config.py proves the two are the same rule.
"""

import re
from dataclasses import dataclass
from pathlib import Path

ENV_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,19}$"
ENV_NAME_RULE = "lower-case letters, digits and '-', starting with a letter, at most 20 characters"
TARGETS = ("aws", "local")
# As terraform/variables.tf checks aws_region and aws_account_id (tests/unit/test_config.py).
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"

# Outputs every target provides (terraform/outputs.tf; the design's contract). More may exist.
REQUIRED_OUTPUTS = (
    "api_endpoint",
    "validator_lambda_arn",
    "router_lambda_arn",
    "payments_queue_url",
    "refunds_queue_url",
    "disputes_queue_url",
    "dynamodb_table_name",
)
# The lists below are the one place each name is declared; everything else (click choices, packages,
# terraform variables, outputs read) is derived from them. terraform/locals.tf declares the module's side
# (local.queues, local.functions); tests/unit/test_config.py and tests/terraform prove the two agree.

# One queue and its dead-letter queue per transaction_type, by the name tapctl gives the pair
# (redrive --queue, status, trace).
TRANSACTION_QUEUES = {"payment": "payments", "refund": "refunds", "dispute": "disputes"}
QUEUE_OUTPUTS = {kind: f"{name}_queue_url" for kind, name in TRANSACTION_QUEUES.items()}
LIVE_QUEUES = tuple(TRANSACTION_QUEUES.values())  # never received from by an inspection command
# Every queue an operator looks at, by the name tapctl gives it, and its output.
QUEUES = {
    **{key: value for name in LIVE_QUEUES
       for key, value in ((name, f"{name}_queue_url"), (f"{name}_dlq", f"{name}_dlq_url"))},
    "router_failures": "router_failures_queue_url",
}

# The payment providers an environment may receive from at POST /webhook/{source}, each verified and
# mapped by its own module in handlers/sources/ (handlers.sources.NAMES mirrors this list).
SOURCES = ("stripe", "adyen", "braintree", "razorpay", "square")
# The routes the evidence archive names as sources: POST /webhook (handlers/archive.py CANONICAL_SOURCE) and
# each provider's (tests/unit/test_config.py checks the two agree).
ARCHIVE_SOURCES = ("webhook", *SOURCES)


@dataclass(frozen=True)
class Function:
    """One Lambda function, by the name tapctl gives it (logs --function, status)."""

    name: str  # validator: terraform's key (local.functions) and the prefix of its outputs and variables
    package: str  # webhook-validator: its zip's name, and its deployed name before "-<env>"
    modules: tuple  # its handler modules in handlers/, beyond the ones every function has (tapctl.package)

    @property
    def name_output(self):
        return f"{self.name}_function_name"

    @property
    def log_group_output(self):
        return f"{self.name}_log_group_name"

    @property
    def package_variable(self):
        return f"{self.name}_package_path"


FUNCTIONS = {function.name: function for function in (
    Function("validator", "webhook-validator", ("archive", "event", "records", "signature", "signing_keys", "validator",
                                                "sources/__init__", "sources/money",
                                                *(f"sources/{name}" for name in SOURCES))),
    Function("router", "event-router", ("archive", "event", "records", "router")),
    Function("sweeper", "outbox-sweeper", ("records", "sweeper")),
)}


def env_name_problem(name):
    """Why ``name`` is not a valid environment name, or None."""
    if re.fullmatch(ENV_NAME_PATTERN, name or ""):
        return None
    return f"{name!r} is not a valid environment name: use {ENV_NAME_RULE}"


@dataclass(frozen=True)
class Settings:
    """Resolved inputs of one command; the plain modules take this, never click objects."""

    project_dir: Path
    env: str = ""
    target: str = "aws"
    terraform_bin: str = ""
    plugin_dir: str = ""
    backend_config: str = ""
    var_files: tuple = ()
    region: str = ""  # the environment's region (tapctl.toml or its record); "" until it has one
    account: str = ""  # likewise its AWS account id
    protected: bool | None = None  # from tapctl.toml; None leaves it to the module's protected_environments
    sources: dict | None = None  # from tapctl.toml: the module's webhook_sources; None leaves it to var files
    lock_timeout: str = "5m"
    verbose: bool = False  # every terraform line, not one progress line
    module_dir: Path = None
    state_dir: Path = None
    json_output: bool = False
    record: object = None  # tapctl.record.Record: how the environment was last deployed

    @property
    def module(self):
        return Path(self.module_dir) if self.module_dir else self.project_dir / "terraform"

    @property
    def build_dir(self):
        return self.project_dir / "build"

    @property
    def state_base(self):
        return Path(self.state_dir) if self.state_dir else self.project_dir / ".tapctl"

    @property
    def workdir(self):
        """This environment's own folder: working copy of the module, state, plans, .terraform."""
        return self.state_base / self.target / self.env
