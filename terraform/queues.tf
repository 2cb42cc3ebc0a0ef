# One queue and dead-letter queue per transaction_type, and the router's failure destination.

module "queue" {
  source   = "./modules/queue"
  for_each = local.queues

  name                          = each.value.queue
  dlq_name                      = each.value.dlq
  message_retention_seconds     = var.queue_message_retention_seconds
  visibility_timeout_seconds    = var.queue_visibility_timeout_seconds
  dlq_message_retention_seconds = var.dlq_message_retention_seconds
  max_receive_count             = var.max_receive_count
  arn_prefix                    = local.arn_prefix.sqs
}

# Events the router could not deliver after Lambda's retries land here (on-failure destination),
# with the original payload, so nothing accepted is lost.
resource "aws_sqs_queue" "router_failures" {
  name                      = local.names.router_failures
  message_retention_seconds = var.router_failures_retention_seconds
  sqs_managed_sse_enabled   = true
}
