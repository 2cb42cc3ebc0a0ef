"""Checks, before anything is applied, that the account can take the planned deployment, so that a first
deploy to a fresh account is refused in one line with its ways out instead of failing halfway.

Pure functions over ``terraform show -json`` of the saved plan and the account's own answers
(Lambda GetAccountSettings, API Gateway GetAccount); ``problems`` asks the target's clients for those.
"""

# Lambda refuses a reservation that would leave less than this of the account's quota unreserved.
MINIMUM_UNRESERVED = 100


def _changes(plan, resource_type):
    return [change for change in plan.get("resource_changes", []) if change.get("type") == resource_type]


def _reserved(values):
    value = (values or {}).get("reserved_concurrent_executions")
    return value if isinstance(value, int) and value > 0 else 0  # -1 (or null) means unreserved


def reservation_increase(plan):
    """How many more concurrent executions the plan's functions reserve than they reserve now."""
    increase = 0
    for change in _changes(plan, "aws_lambda_function"):
        actions = change["change"]["actions"]
        before = _reserved(change["change"].get("before"))
        after = 0 if actions == ["delete"] else _reserved(change["change"].get("after"))
        increase += after - before
    return increase


def capacity_problem(plan, account_settings, identity):
    increase = reservation_increase(plan)
    if increase <= 0:
        return None
    limit = account_settings["AccountLimit"]
    quota, unreserved = limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]
    if unreserved - increase >= MINIMUM_UNRESERVED:
        return None
    return (
        f"account {identity.account} ({identity.region}) cannot reserve {increase} more concurrent executions: "
        f"its Lambda quota is {quota} with {unreserved} unreserved, and Lambda keeps {MINIMUM_UNRESERVED} "
        f"unreserved. Set reserved_concurrency = null in a var-file (the functions then share the unreserved "
        f"pool), or ask for a higher quota (Service Quotas > AWS Lambda > Concurrent executions)"
    )


def api_role_problem(plan, account, identity):
    creates_stage = any("create" in change["change"]["actions"] for change in _changes(plan, "aws_api_gateway_stage"))
    sets_role = any(change["change"]["actions"] != ["delete"] for change in _changes(plan, "aws_api_gateway_account"))
    if not creates_stage or sets_role or account.get("cloudwatchRoleArn"):
        return None
    return (
        f"account {identity.account} has no API Gateway CloudWatch role in {identity.region}, which the stage's "
        f"access logs need: first deploy one long-lived environment of this account and region with "
        f"create_api_gateway_account_role = true (never a throwaway one: its destroy removes the role for "
        f"all), or set the role in API Gateway's settings"
    )


def problems(target, plan, identity, warn):
    """Every reason the account cannot take ``plan``; a fact that cannot be read is a warning, not a refusal."""
    import botocore.exceptions

    found = []
    checks = (
        ("lambda", "get_account_settings", capacity_problem, "Lambda concurrency"),
        ("apigateway", "get_account", api_role_problem, "API Gateway logging role"),
    )
    for service, operation, check, what in checks:
        try:
            answer = getattr(target.client(service), operation)()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            warn(f"warning: could not check the account's {what} before applying: {error}")
            continue
        problem = check(plan, answer, identity)
        if problem:
            found.append(problem)
    return found
