# Alarms on everything that means an event is stuck, failing or lost, to one encrypted SNS topic.
#
# The topic uses a customer-managed key: CloudWatch alarms cannot publish to a topic encrypted with
# the AWS-managed key alias/aws/sns (its key policy cannot be changed to admit CloudWatch), so such
# a topic would swallow every alarm.

resource "aws_kms_key" "alarms" {
  description             = "Encrypts the webhook alarm topic (${local.env})."
  enable_key_rotation     = true
  deletion_window_in_days = 7

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # In a key policy "*" means this key; the account root keeps administration of it.
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # Only this account's alarms: without the conditions any account's CloudWatch could use the key.
        Sid       = "AlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
          ArnLike      = { "aws:SourceArn" = "${local.arn_prefix.cloudwatch}:alarm:*" }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "alarms" {
  name          = local.names.alarm_key
  target_key_id = aws_kms_key.alarms.key_id
}

resource "aws_sns_topic" "alarms" {
  name              = local.names.alarm_topic
  kms_master_key_id = aws_kms_key.alarms.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]

  # Queues that must stay empty: every dead-letter queue and the router-failures queue.
  must_stay_empty = merge(
    { for type, queue in module.queue : queue.dlq_name => queue.dlq_name },
    { (local.names.router_failures) = aws_sqs_queue.router_failures.name },
  )

  function_names = { for name, function in module.function : name => function.function_name }
}

# The sweeper's records it could not hand over (the router refused, or five tries did not confirm).
resource "aws_cloudwatch_log_metric_filter" "outbox_stuck" {
  name           = "${local.names.sweeper}-stuck"
  log_group_name = module.function["sweeper"].log_group_name
  pattern        = "{ ($.outcome = \"stuck\") || ($.outcome = \"handover_failed\") }"

  metric_transformation {
    name          = "OutboxNotHandedOver"
    namespace     = local.outcome_namespace
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "outbox_stuck" {
  alarm_name          = "${local.names.sweeper}-stuck"
  alarm_description   = "${local.names.sweeper} found accepted events it cannot hand over to the router: tapctl trace them; the router's failures or throttling are the usual cause."
  namespace           = local.outcome_namespace
  metric_name         = "OutboxNotHandedOver"
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "queue_not_empty" {
  for_each = local.must_stay_empty

  alarm_name          = "${each.key}-not-empty"
  alarm_description   = "${each.key} holds messages: events that failed processing. Inspect and redrive them."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_dlq_messages_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "oldest_message" {
  for_each = module.queue

  alarm_name          = "${each.value.queue_name}-oldest-message"
  alarm_description   = "The oldest message in ${each.value.queue_name} waits longer than ${var.alarm_oldest_message_age_seconds} s: consumers are behind or stopped."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value.queue_name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_oldest_message_age_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_error_rate" {
  for_each = local.function_names

  alarm_name          = "${each.value}-error-rate"
  alarm_description   = "More than ${var.alarm_lambda_error_rate_percent} % of ${each.value} invocations fail."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_lambda_error_rate_percent
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "error_rate"
    expression  = "IF(invocations > 0, 100 * errors / invocations, 0)"
    label       = "Error rate (%)"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = each.value }
      stat        = "Sum"
      period      = var.alarm_period_seconds
    }
  }

  metric_query {
    id = "invocations"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Invocations"
      dimensions  = { FunctionName = each.value }
      stat        = "Sum"
      period      = var.alarm_period_seconds
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  for_each = local.function_names

  alarm_name          = "${each.value}-throttled"
  alarm_description   = var.reserved_concurrency == null ? "${each.value} is throttled: the account's unreserved concurrency is exhausted." : "${each.value} is throttled: its reserved concurrency (${var.reserved_concurrency}) is exhausted."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${local.names.api}-5xx-rate"
  alarm_description   = "More than ${var.alarm_api_5xx_rate_percent} % of POST /webhook requests answer 5XX."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_api_5xx_rate_percent
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "error_rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5XX rate (%)"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5XXError"
      dimensions  = { ApiName = aws_api_gateway_rest_api.this.name, Stage = aws_api_gateway_stage.this.stage_name }
      stat        = "Sum"
      period      = var.alarm_period_seconds
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiName = aws_api_gateway_rest_api.this.name, Stage = aws_api_gateway_stage.this.stage_name }
      stat        = "Sum"
      period      = var.alarm_period_seconds
    }
  }
}
