# Every resource name is built here, from environment_suffix, and nowhere else.
locals {
  env = var.environment_suffix

  names = {
    table           = "transaction-events-${local.env}"
    validator       = "webhook-validator-${local.env}"
    router          = "event-router-${local.env}"
    sweeper         = "outbox-sweeper-${local.env}"
    api             = "webhook-api-${local.env}"
    router_failures = "router-failures-${local.env}"
    alarm_topic     = "webhook-alarms-${local.env}"
    alarm_key       = "alias/webhook-alarms-${local.env}"
    api_access_logs = "/aws/apigateway/webhook-api-${local.env}"
    signing_secret  = "webhook-signing-${local.env}"
    dashboard       = "webhook-pipeline-${local.env}"
    source_secrets  = { for name in keys(var.webhook_sources) : name => "webhook-${name}-${local.env}" }
    # Bucket names are global: the account and region make this one unique (at most 57 characters).
    archive     = "evidence-${local.env}-${data.aws_caller_identity.current.account_id}-${var.aws_region}"
    archive_key = "alias/webhook-archive-${local.env}"
  }

  # ARNs of this stack's resources, known before they exist. The DLQs admit their queues and the
  # validator may invoke the router without waiting for them to be created: waiting would put the
  # router (after its queues, whose creation the provider holds about 25 s each) before the validator
  # on a deploy's critical path.
  arn_prefix = {
    for service in ["sqs", "lambda", "cloudwatch"] :
    service => "arn:${data.aws_partition.current.partition}:${service}:${var.aws_region}:${data.aws_caller_identity.current.account_id}"
  }
  router_arn = "${local.arn_prefix.lambda}:function:${local.names.router}"

  # The queues' URLs, known the same way: SQS names a queue https://sqs.<region>.<partition's DNS
  # suffix>/<account>/<name>, and identifies it by the last two parts (the local target's emulator
  # serves it at its own address, under the same path). The router's environment and policy name the
  # queues through these, so the functions (whose creation the provider serialises, about 5 s each)
  # are created while the provider waits for the queues, not after them.
  queue_url_prefix = "https://sqs.${var.aws_region}.${data.aws_partition.current.dns_suffix}/${data.aws_caller_identity.current.account_id}"

  # One queue pair per transaction_type. url_variable is the router's environment variable for it
  # (handlers/router.py QUEUE_URL_ENV; tests/terraform checks the two agree).
  queues = {
    payment = { queue = "payments-queue-${local.env}", dlq = "payments-dlq-${local.env}", url_variable = "PAYMENTS_QUEUE_URL" }
    refund  = { queue = "refunds-queue-${local.env}", dlq = "refunds-dlq-${local.env}", url_variable = "REFUNDS_QUEUE_URL" }
    dispute = { queue = "disputes-queue-${local.env}", dlq = "disputes-dlq-${local.env}", url_variable = "DISPUTES_QUEUE_URL" }
  }

  # The request contract, loaded once; the API model and the redeployment trigger both use it.
  request_schema = file("${path.module}/schema/webhook_event.schema.json")

  # TTL attribute written by the validator (handlers/records.py TTL_ATTRIBUTE).
  dedup_ttl_attribute = "expires_at"

  # The outbox's sparse index (handlers/records.py PENDING_INDEX; tests/terraform checks they agree).
  # The attributes the router and the sweeper may write (handlers/records.py: the key, the delivery,
  # OUTBOX_ATTRIBUTES; tests/terraform checks they agree): their UpdateItem is held to them.
  outbox = {
    index      = "pending"
    attributes = ["event_id", "received_at", "pending_shard", "pending_due", "pending_attempts", "message_body", "evidence", "queued_message", "routing_until"]
  }

  protected           = coalesce(var.protected, contains(var.protected_environments, local.env))
  deletion_protection = coalesce(var.enable_deletion_protection, local.protected)
}
