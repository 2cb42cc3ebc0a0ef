output "queue_url" {
  description = "URL of the queue."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Name of the queue."
  value       = aws_sqs_queue.this.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "redrive_policy" {
  description = "The queue's redrive policy, decoded."
  value       = jsondecode(aws_sqs_queue.this.redrive_policy)
}

output "redrive_allow_policy" {
  description = "The dead-letter queue's redrive-allow policy, decoded."
  value       = jsondecode(aws_sqs_queue.dlq.redrive_allow_policy)
}

output "settings" {
  description = "Retention, visibility and encryption of the queue and its dead-letter queue (for checks and reviews)."
  value = {
    message_retention_seconds     = aws_sqs_queue.this.message_retention_seconds
    visibility_timeout_seconds    = aws_sqs_queue.this.visibility_timeout_seconds
    sqs_managed_sse_enabled       = aws_sqs_queue.this.sqs_managed_sse_enabled
    dlq_message_retention_seconds = aws_sqs_queue.dlq.message_retention_seconds
    dlq_sqs_managed_sse_enabled   = aws_sqs_queue.dlq.sqs_managed_sse_enabled
  }
}
