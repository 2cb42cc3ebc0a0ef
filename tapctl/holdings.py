"""What a resource that a plan would delete or replace holds now (messages in a queue, items in the table,
bytes of logs), read from the environment: added to each finding of a review (tapctl.review)."""


def measure(result, client):
    """Add to each finding what the resource holds now, read through ``client(service)`` (boto3 clients of
    the environment). Best effort: a count that cannot be read is said to be unknown, never guessed."""
    for finding in result.findings:
        try:
            finding.contents = _contents(finding.change, client)
        except Exception as error:  # no permission, no endpoint: the finding stands without a count
            code = getattr(error, "response", {}).get("Error", {}).get("Code") if hasattr(error, "response") else None
            finding.contents = f"an unknown amount (could not read it: {code or type(error).__name__})"


def _contents(change, client):
    if not change.id:
        return None
    if change.type == "aws_sqs_queue":
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        found = client("sqs").get_queue_attributes(QueueUrl=change.id, AttributeNames=names)["Attributes"]
        count = sum(int(found.get(name, 0)) for name in names)
        return f"{count} message{'' if count == 1 else 's'}"
    if change.type == "aws_dynamodb_table":
        count = client("dynamodb").describe_table(TableName=change.id)["Table"].get("ItemCount", 0)
        return f"about {count} item{'' if count == 1 else 's'} (DynamoDB updates this count about every 6 hours)"
    if change.type == "aws_s3_bucket":
        from tapctl.providers import project_module

        prefix = project_module(None, "handlers.archive").EVENTS_PREFIX  # the handlers own the key layout
        page = client("s3").list_object_versions(Bucket=change.id, Prefix=prefix, MaxKeys=1000)
        count = len(page.get("Versions", []))
        more = "more than " if page.get("IsTruncated") else ""
        return f"{more}{count} archived request{'' if count == 1 else 's'}"
    if change.type == "aws_cloudwatch_log_group":
        groups = client("logs").describe_log_groups(logGroupNamePrefix=change.id)["logGroups"]
        stored = next((group.get("storedBytes", 0) for group in groups if group["logGroupName"] == change.id), 0)
        return f"{stored} bytes of logs"
    return None
