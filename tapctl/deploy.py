"""How a change reaches an environment: plan, check that the account can take it, confirm naming what is
at stake, apply, remember how the environment is now deployed, then warn about what still needs a person.

Plain functions over an opened environment (tapctl.targets.open_environment); ``confirm`` and ``warn``
are given by the caller, so nothing here knows of click.
"""

from dataclasses import dataclass

from tapctl import preflight
from tapctl.environment import write_record
from tapctl.errors import ChecksFailed, PreflightFailed


@dataclass(frozen=True)
class Stakes:
    """What a confirmation names: where the change lands and how big it is."""

    env: str
    target: str
    account: str
    region: str
    state: str
    summary: object  # tapctl.terraform.PlanSummary

    def describe(self):
        return (f"environment {self.env} on {self.target}: account {self.account}, region {self.region}, "
                f"{self.state}")

    def question(self):
        counts = f"{self.summary.add} to add, {self.summary.change} to change, {self.summary.destroy} to destroy"
        return f"Apply {counts} to {self.describe()}?"


def stakes(opened, summary):
    return Stakes(opened.settings.env, opened.target.name, opened.identity.account, opened.identity.region,
                  opened.target.state_description(), summary)


def first_deploy_warnings(opened):
    """Said before the first apply of an environment whose state would live on this machine only."""
    settings = opened.settings
    if settings.record or settings.backend_config or not opened.target.durable or opened.terraform.deployed():
        return []
    return [
        f"warning: {settings.env}'s terraform state will live only on this machine "
        f"({settings.workdir / 'terraform.tfstate'}); lose it and terraform forgets every resource. "
        f"For a team or CI keep it in S3: --backend-config backend.hcl, or backend_config in tapctl.toml"
    ]


def check_account(opened, plan_file, warn):
    """Refuse, before applying, a plan the account cannot take (tapctl.preflight); return the plan's
    document."""
    document = opened.terraform.show(plan_file)
    found = preflight.problems(opened.target, document, opened.identity, warn)
    if found:
        raise PreflightFailed(found[0] if len(found) == 1 else " AND ".join(found))
    return document


def changed_resources(document):
    return sum(1 for change in document.get("resource_changes", []) if change["change"]["actions"] not in (["no-op"], ["read"]))


def reviewed(opened, document):
    """The review of a plan document (tapctl.review), with what each resource it would lose holds now."""
    from tapctl import review

    result = review.review(document)
    if result.findings:
        review.measure(result, opened.target.client)
    return result


def check_data_loss(opened, document, *, allow, warn):
    """Name every resource holding data that the plan deletes or replaces; refuse it unless ``allow``.
    Returns the findings (tapctl.review)."""
    from tapctl import review
    from tapctl.errors import DataLoss

    result = reviewed(opened, document)
    for line in review.text_lines(result):
        warn(line)
    if result.findings and not allow:
        raise DataLoss(f"nothing was changed: the plan deletes or replaces {len(result.findings)} resource(s) "
                       "holding data (listed above); pass --allow-data-loss if that loss is intended")
    return result.findings


def deploy(opened, *, auto_approve, confirm, warn, allow_data_loss=False):
    """Plan, check, confirm and apply; returns the plan's summary (nothing applied when it has no changes)."""
    for line in first_deploy_warnings(opened):
        warn(line)
    plan_file = opened.settings.workdir / "deploy.tfplan"
    summary = opened.terraform.plan(plan_file)
    warn(summary.line())
    if not summary.has_changes:
        if not opened.settings.record and opened.terraform.deployed():  # deployed before records were kept
            write_record(opened.settings, opened.identity)
        return summary
    document = check_account(opened, plan_file, warn)
    check_data_loss(opened, document, allow=allow_data_loss, warn=warn)
    question = stakes(opened, summary).question()
    if not auto_approve and not confirm(question):
        raise ChecksFailed("deploy cancelled: nothing was changed")
    apply(opened, plan_file, document)
    return summary


def apply(opened, plan_file, document):
    opened.applied = True
    opened.terraform.apply(plan_file, total=changed_resources(document))
    write_record(opened.settings, opened.identity)


def after_apply(opened, outputs, progress):
    """What a deploy leaves ready: the first signing secret (terraform creates the secret without a
    value), and a word about what still needs a person."""
    from tapctl.signing_secret import SigningSecret

    if outputs.get("signing_secret_arn"):
        _, created = SigningSecret.of(opened.target, outputs, opened.settings.env).ensure()
        if created:
            progress(f"{opened.settings.env}: created its first webhook signing secret; give it to your senders: "
                     f"tapctl secret show --env {opened.settings.env}")
    for line in alarm_warnings(opened, outputs):
        progress(line)


def alarm_warnings(opened, outputs):
    """A protected environment whose alarm topic reaches no one is worth a warning after every deploy."""
    topic = outputs.get("alarm_topic_arn")
    if not outputs.get("protected") or not topic:
        return []
    import botocore.exceptions

    try:
        subscriptions = opened.target.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        return [f"warning: could not list the subscriptions of {topic}: {error}"]
    if subscriptions:
        return []
    return [
        f"warning: {opened.settings.env} is protected but its alarms reach no one: nobody is subscribed to "
        f"{topic}. Set alarm_email in a var-file, or subscribe your paging tool to the topic"
    ]
