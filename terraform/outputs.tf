output "api_endpoint" {
  description = "Full URL of POST /webhook."
  value       = "${aws_api_gateway_stage.this.invoke_url}/${aws_api_gateway_resource.webhook.path_part}"
}

output "api_id" {
  description = "ID of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "api_stage_name" {
  description = "Name of the API stage."
  value       = aws_api_gateway_stage.this.stage_name
}

output "validator_lambda_arn" {
  description = "ARN of webhook-validator."
  value       = module.function["validator"].function_arn
}

output "router_lambda_arn" {
  description = "ARN of event-router."
  value       = module.function["router"].function_arn
}

output "validator_function_name" {
  description = "Name of webhook-validator."
  value       = module.function["validator"].function_name
}

output "router_function_name" {
  description = "Name of event-router."
  value       = module.function["router"].function_name
}

output "validator_log_group_name" {
  description = "Log group of webhook-validator (one JSON line per invocation)."
  value       = module.function["validator"].log_group_name
}

output "router_log_group_name" {
  description = "Log group of event-router (one JSON line per invocation)."
  value       = module.function["router"].log_group_name
}

output "sweeper_function_name" {
  description = "Name of outbox-sweeper."
  value       = module.function["sweeper"].function_name
}

output "sweeper_log_group_name" {
  description = "Log group of outbox-sweeper."
  value       = module.function["sweeper"].log_group_name
}

output "payments_queue_url" {
  description = "URL of the payments queue."
  value       = module.queue["payment"].queue_url
}

output "refunds_queue_url" {
  description = "URL of the refunds queue."
  value       = module.queue["refund"].queue_url
}

output "disputes_queue_url" {
  description = "URL of the disputes queue."
  value       = module.queue["dispute"].queue_url
}

output "payments_dlq_url" {
  description = "URL of the payments dead-letter queue."
  value       = module.queue["payment"].dlq_url
}

output "refunds_dlq_url" {
  description = "URL of the refunds dead-letter queue."
  value       = module.queue["refund"].dlq_url
}

output "disputes_dlq_url" {
  description = "URL of the disputes dead-letter queue."
  value       = module.queue["dispute"].dlq_url
}

output "router_failures_queue_url" {
  description = "URL of the queue that receives events the router could not deliver after its retries."
  value       = aws_sqs_queue.router_failures.url
}

output "dynamodb_table_name" {
  description = "Name of the de-duplication table."
  value       = aws_dynamodb_table.this.name
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "protected" {
  description = "Whether the environment is protected (deletion protection; tapctl warns when its alarms reach no one)."
  value       = local.protected
}

output "signing_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the webhook signing secrets (tapctl secret show / rotate)."
  value       = aws_secretsmanager_secret.signing.arn
}

output "signature_mode" {
  description = "How POST /webhook treats signatures: required, report or off."
  value       = var.signature_mode
}

output "dashboard_name" {
  description = "Name of the environment's CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "outcome_metrics_namespace" {
  description = "The CloudWatch namespace of the functions' outcome counts (ValidatorOutcomes, RouterOutcomes, SourceOutcomes by Source), from their log lines; tapctl status reads it."
  value       = local.outcome_namespace
}

output "dashboard_url" {
  description = "The dashboard in the AWS console."
  value       = "https://${var.aws_region}.console.aws.amazon.com/cloudwatch/home?region=${var.aws_region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "webhook_sources" {
  description = "Each enabled payment provider's route: the URL to register in its dashboard, its secret's ARN (tapctl secret set --source), for Square the notification URL its signatures cover, and the environment's overrides of the source's type mapping (tapctl sources and smoke-test read them)."
  value = { for name, source in local.webhook_sources : name => {
    url              = "${aws_api_gateway_stage.this.invoke_url}/${aws_api_gateway_resource.webhook.path_part}/${name}"
    secret_arn       = source.secret_arn
    notification_url = lookup(source, "notification_url", null)
    types            = source.types
  } }
}

output "archive_bucket_name" {
  description = "The evidence archive's S3 bucket (tapctl archive get / list, replay --from-archive)."
  value       = aws_s3_bucket.archive.bucket
}

output "archive_lock" {
  description = "The archive's Object Lock: its mode (COMPLIANCE on a protected environment, else GOVERNANCE) and retention in days."
  value       = { mode = local.archive.mode, retention_days = local.archive.retention_days }
}
