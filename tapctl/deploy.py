"""How a change reaches an environment: plan, check that the account can take it, confirm naming what is
at stake, apply, remember how the environment is now deployed, then warn about what still needs a person.

Plain functions over an opened environment (tapctl.targets.open_environment); ``confirm`` and ``warn``
are given by the caller, so nothing here knows of click.
"""

from dataclasses import dataclass

from tapctl import preflight
from tapctl.errors import ChecksFailed, PreflightFailed
from tapctl.record import forget_record, write_record


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
    from tapctl import holdings, review

    result = review.review(document)
    if result.findings:
        holdings.measure(result, opened.target.client)
    return result


def check_data_loss(opened, document, *, allow, warn):
    """Name every resource holding data that the plan deletes or replaces; refuse it unless ``allow``.
    Returns the findings (tapctl.review)."""
    from tapctl import review_report
    from tapctl.errors import DataLoss

    result = reviewed(opened, document)
    for line in review_report.text_lines(result):
        warn(line)
    if result.findings and not allow:
        raise DataLoss(f"nothing was changed: the plan deletes or replaces {len(result.findings)} resource(s) "
                       "holding data (listed above); pass --allow-data-loss if that loss is intended")
    return result.findings


def init(settings, progress, *, live=None, migrate_state=False):
    """Initialise the environment's working copy; with ``migrate_state``, move its state to the backend now
    configured and remember that backend."""
    from tapctl.targets import open_environment

    with open_environment(settings, progress, live=live, migrate_state=migrate_state) as opened:
        if migrate_state:
            write_record(settings, opened.identity)
            progress(f"{settings.env}: state moved to {opened.target.state_description()}")


def plan(opened, plan_file, *, destroy=False):
    """Plan into ``plan_file``; returns (its summary, its review: tapctl.review)."""
    summary = opened.terraform.plan(plan_file, destroy=destroy)
    return summary, reviewed(opened, opened.terraform.show(plan_file))


def deploy(opened, *, auto_approve, confirm, warn, allow_data_loss=False):
    """Plan, check, confirm and apply (nothing is applied when the plan has no changes), then make the
    environment ready (``after_apply``); returns (the plan's summary, the environment's outputs)."""
    for line in first_deploy_warnings(opened):
        warn(line)
    plan_file = opened.settings.workdir / "deploy.tfplan"
    summary = opened.terraform.plan(plan_file)
    warn(summary.line())
    if summary.has_changes:
        document = check_account(opened, plan_file, warn)
        check_data_loss(opened, document, allow=allow_data_loss, warn=warn)
        question = stakes(opened, summary).question()
        if not auto_approve and not confirm(question):
            raise ChecksFailed("deploy cancelled: nothing was changed")
        apply(opened, plan_file, document)
    elif not opened.settings.record and opened.terraform.deployed():  # deployed before records were kept
        write_record(opened.settings, opened.identity)
    return summary, after_apply(opened, warn)


def apply_reviewed(opened, plan_file, *, allow_data_loss, warn):
    """Apply exactly a plan saved by ``tapctl plan``: made for this environment, taken by its account,
    losing no data unless allowed; returns the environment's outputs."""
    opened.terraform.check_plan(plan_file, opened.identity)
    document = check_account(opened, plan_file, warn)
    check_data_loss(opened, document, allow=allow_data_loss, warn=warn)
    apply(opened, plan_file, document)
    return after_apply(opened, warn)


def apply(opened, plan_file, document):
    opened.applied = True
    opened.terraform.apply(plan_file, total=changed_resources(document))
    write_record(opened.settings, opened.identity)


def destroy(settings, progress, *, live=None, confirm_name=None):
    """Destroy every resource of the environment and forget it. ``confirm_name(what)`` returns the name
    the user typed (None: no question); a target that is gone with its resources (a stopped local
    emulator) only has its local state removed."""
    from tapctl.targets import for_settings, open_environment

    target = for_settings(settings, progress)
    if not target.reachable():
        target.forget()
    else:
        with open_environment(settings, progress, live=live) as opened:
            if confirm_name:
                typed = confirm_name(stakes(opened, None).describe())
                if typed != settings.env:
                    raise ChecksFailed(f"destroy cancelled: {typed!r} is not {settings.env!r}")
            opened.applied = True
            opened.target.destroy(opened.terraform)
    forget_record(settings.workdir)


def after_apply(opened, progress):
    """What a deploy leaves ready: the first signing secret (terraform creates the secret without a
    value), and a word about what still needs a person. Returns the environment's outputs."""
    from tapctl.signing_secret import SigningSecret

    outputs = opened.outputs()
    if outputs.get("signing_secret_arn"):
        _, created = SigningSecret.of(opened.target, outputs, opened.settings.env).ensure()
        if created:
            progress(f"{opened.settings.env}: created its first webhook signing secret; give it to your senders: "
                     f"tapctl secret show --env {opened.settings.env}")
    for line in alarm_warnings(opened, outputs):
        progress(line)
    return outputs


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
