# One dashboard per environment: requests and their answers, the validator's outcomes (counted from its
# JSON log lines by a metric filter), queue and DLQ depths, router failures, errors and throttles.

locals {
  outcome_namespace = "tapctl/${local.env}"
  # The validator's outcomes worth a line each (handlers/validator.py; "unauthenticated" once signed).
  validator_outcomes = ["accepted", "duplicate", "ignored", "rejected", "unauthenticated", "handover_failed", "record_failed", "secret_unavailable"]
  # Each source's events by outcome (a provider's event type the source does not route is "ignored").
  source_outcomes = ["accepted", "duplicate", "ignored", "unauthenticated", "rejected"]
  all_queues = merge(
    { for type, queue in module.queue : queue.queue_name => queue.queue_name },
    { for type, queue in module.queue : queue.dlq_name => queue.dlq_name },
  )
  api_dimensions = ["ApiName", aws_api_gateway_rest_api.this.name, "Stage", aws_api_gateway_stage.this.stage_name]
}

# One metric per outcome, from the outcome field of each JSON log line.
resource "aws_cloudwatch_log_metric_filter" "validator_outcomes" {
  name           = "${local.names.validator}-outcomes"
  log_group_name = module.function["validator"].log_group_name
  pattern        = "{ $.outcome = * }"

  metric_transformation {
    name       = "ValidatorOutcomes"
    namespace  = local.outcome_namespace
    value      = "1"
    unit       = "Count"
    dimensions = { Outcome = "$.outcome" }
  }
}

# The provider sources' log lines also by source (canonical lines have no source field).
resource "aws_cloudwatch_log_metric_filter" "source_outcomes" {
  count          = length(var.webhook_sources) > 0 ? 1 : 0
  name           = "${local.names.validator}-source-outcomes"
  log_group_name = module.function["validator"].log_group_name
  pattern        = "{ $.source = * }"

  metric_transformation {
    name       = "SourceOutcomes"
    namespace  = local.outcome_namespace
    value      = "1"
    unit       = "Count"
    dimensions = { Source = "$.source", Outcome = "$.outcome" }
  }
}

resource "aws_cloudwatch_log_metric_filter" "router_outcomes" {
  name           = "${local.names.router}-outcomes"
  log_group_name = module.function["router"].log_group_name
  pattern        = "{ $.outcome = * }"

  metric_transformation {
    name       = "RouterOutcomes"
    namespace  = local.outcome_namespace
    value      = "1"
    unit       = "Count"
    dimensions = { Outcome = "$.outcome" }
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.names.dashboard
  dashboard_body = jsonencode({
    widgets = concat([
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title = "POST /webhook: requests and errors", region = var.aws_region, stat = "Sum", period = 60
          metrics = [
            concat(["AWS/ApiGateway", "Count"], local.api_dimensions),
            concat(["AWS/ApiGateway", "4XXError"], local.api_dimensions),
            concat(["AWS/ApiGateway", "5XXError"], local.api_dimensions),
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Validator outcomes", region = var.aws_region, stat = "Sum", period = 60
          metrics = [for outcome in local.validator_outcomes : [local.outcome_namespace, "ValidatorOutcomes", "Outcome", outcome]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Messages waiting (queues and DLQs)", region = var.aws_region, stat = "Maximum", period = 60
          metrics = [for name in sort(keys(local.all_queues)) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title = "Router failures (after retries) and routed events", region = var.aws_region, period = 60
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.names.router_failures, { stat = "Maximum" }],
            [local.outcome_namespace, "RouterOutcomes", "Outcome", "routed", { stat = "Sum" }],
            [local.outcome_namespace, "RouterOutcomes", "Outcome", "failed", { stat = "Sum" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 24, height = 6
        properties = {
          title = "Functions: errors and throttles", region = var.aws_region, stat = "Sum", period = 60
          metrics = flatten([for name in values(local.function_names) : [
            ["AWS/Lambda", "Errors", "FunctionName", name],
            ["AWS/Lambda", "Throttles", "FunctionName", name],
          ]])
        }
      },
      ], length(var.webhook_sources) == 0 ? [] : [
      {
        type = "metric", x = 0, y = 18, width = 24, height = 6
        properties = {
          title = "Payment providers: events by source and outcome", region = var.aws_region, stat = "Sum", period = 60
          metrics = flatten([for name in sort(keys(var.webhook_sources)) : [
            for outcome in local.source_outcomes : [local.outcome_namespace, "SourceOutcomes", "Source", name, "Outcome", outcome]
          ]])
        }
      },
    ])
  })
}
