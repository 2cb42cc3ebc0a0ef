# A queue with its dead-letter queue: SQS-managed encryption on both, redrive after max_receive_count
# receives, and a dead-letter queue that accepts messages from this queue only.
#
# The redrive-allow policy is set when the DLQ is created, naming the source queue by the ARN it
# will have, rather than by a separate aws_sqs_queue_redrive_allow_policy: the provider waits about
# 25 s for every SQS attribute change to settle, and a separate resource adds one more such wait to
# every create and destroy.

resource "aws_sqs_queue" "dlq" {
  name                      = var.dlq_name
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.queue_arn]
  })
}

locals {
  queue_arn = "${var.arn_prefix}:${var.name}"
}

resource "aws_sqs_queue" "this" {
  name                       = var.name
  message_retention_seconds  = var.message_retention_seconds
  visibility_timeout_seconds = var.visibility_timeout_seconds
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}
