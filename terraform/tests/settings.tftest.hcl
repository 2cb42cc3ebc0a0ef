# The design's fixed settings, asserted on the whole stack with the AWS provider mocked.

mock_provider "aws" {
  source = "./tests/mocks"
}

# Distinct ARNs and URLs where the assertions tell resources apart.

override_resource {
  target = module.queue["payment"].aws_sqs_queue.this
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:payments-queue-dev", url = "https://sqs.us-east-1.amazonaws.com/123456789012/payments-queue-dev" }
}

override_resource {
  target = module.queue["payment"].aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:payments-dlq-dev", url = "https://sqs.us-east-1.amazonaws.com/123456789012/payments-dlq-dev" }
}

override_resource {
  target = module.queue["refund"].aws_sqs_queue.this
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:refunds-queue-dev", url = "https://sqs.us-east-1.amazonaws.com/123456789012/refunds-queue-dev" }
}

override_resource {
  target = module.queue["refund"].aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:refunds-dlq-dev", url = "https://sqs.us-east-1.amazonaws.com/123456789012/refunds-dlq-dev" }
}

override_resource {
  target = module.queue["dispute"].aws_sqs_queue.this
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:disputes-queue-dev", url = "https://sqs.us-east-1.amazonaws.com/123456789012/disputes-queue-dev" }
}

override_resource {
  target = module.queue["dispute"].aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:disputes-dlq-dev", url = "https://sqs.us-east-1.amazonaws.com/123456789012/disputes-dlq-dev" }
}

override_resource {
  target = aws_secretsmanager_secret.signing
  values = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-signing-dev-AbCdEf" }
}

override_resource {
  target = aws_sqs_queue.router_failures
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:router-failures-dev", url = "https://sqs.us-east-1.amazonaws.com/123456789012/router-failures-dev" }
}

override_resource {
  target = module.function["validator"].aws_lambda_function.this
  values = {
    arn        = "arn:aws:lambda:us-east-1:123456789012:function:webhook-validator-dev"
    invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:webhook-validator-dev/invocations"
  }
}

override_resource {
  target = module.function["validator"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/webhook-validator-dev" }
}

override_resource {
  target = module.function["router"].aws_lambda_function.this
  values = {
    arn        = "arn:aws:lambda:us-east-1:123456789012:function:event-router-dev"
    invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:event-router-dev/invocations"
  }
}

override_resource {
  target = module.function["sweeper"].aws_lambda_function.this
  values = {
    arn        = "arn:aws:lambda:us-east-1:123456789012:function:outbox-sweeper-dev"
    invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:outbox-sweeper-dev/invocations"
  }
}

override_resource {
  target = module.function["sweeper"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/outbox-sweeper-dev" }
}

override_resource {
  target = module.function["router"].aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/event-router-dev" }
}

variables {
  environment_suffix     = "dev"
  validator_package_path = "tests/fixtures/empty.zip"
  router_package_path    = "tests/fixtures/empty.zip"
  sweeper_package_path   = "tests/fixtures/empty.zip"
}

run "names_carry_the_environment_suffix" {
  assert {
    condition     = aws_dynamodb_table.this.name == "transaction-events-dev"
    error_message = "table name"
  }
  assert {
    condition     = module.function["validator"].function_name == "webhook-validator-dev" && module.function["router"].function_name == "event-router-dev"
    error_message = "function names"
  }
  assert {
    condition     = module.function["validator"].log_group_name == "/aws/lambda/webhook-validator-dev" && module.function["router"].log_group_name == "/aws/lambda/event-router-dev"
    error_message = "log group names"
  }
  assert {
    condition = [for type in ["payment", "refund", "dispute"] : [module.queue[type].queue_name, module.queue[type].dlq_name]] == [
      ["payments-queue-dev", "payments-dlq-dev"],
      ["refunds-queue-dev", "refunds-dlq-dev"],
      ["disputes-queue-dev", "disputes-dlq-dev"],
    ]
    error_message = "queue names"
  }
  assert {
    condition     = aws_sqs_queue.router_failures.name == "router-failures-dev"
    error_message = "router failures queue name"
  }
}

run "functions_as_the_design_fixes_them" {
  assert {
    condition = jsonencode([for fn in [module.function["validator"], module.function["router"]] : [
      fn.configuration.runtime, fn.configuration.architectures, fn.configuration.memory_size,
      fn.configuration.reserved_concurrency, fn.configuration.tracing_mode, fn.configuration.log_retention_days,
      ]]) == jsonencode([
      ["python3.11", ["arm64"], 256, 10, "Active", 30],
      ["python3.11", ["arm64"], 256, 10, "Active", 30],
    ])
    error_message = "runtime, architecture, memory, reserved concurrency, tracing or log retention"
  }
  assert {
    condition     = module.function["validator"].configuration.timeout == 30 && module.function["router"].configuration.timeout == 60
    error_message = "timeouts"
  }
  assert {
    condition     = module.function["validator"].configuration.handler == "handlers.validator.lambda_handler" && module.function["router"].configuration.handler == "handlers.router.lambda_handler"
    error_message = "handlers"
  }
  assert {
    condition = module.function["validator"].configuration.environment == tomap({
      DYNAMODB_TABLE               = "transaction-events-dev"
      ROUTER_LAMBDA_NAME           = "event-router-dev"
      SIGNING_SECRET_ARN           = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-signing-dev-AbCdEf"
      SIGNATURE_MODE               = "required"
      SIGNATURE_TOLERANCE_SECONDS  = "300"
      SIGNING_SECRET_CACHE_SECONDS = "300"
      WEBHOOK_SOURCES              = "{}"
      DEDUP_TTL_DAYS               = "30"
    })
    error_message = "validator environment"
  }
  assert {
    condition = module.function["router"].configuration.environment == tomap({
      PAYMENTS_QUEUE_URL = module.queue["payment"].queue_url
      REFUNDS_QUEUE_URL  = module.queue["refund"].queue_url
      DISPUTES_QUEUE_URL = module.queue["dispute"].queue_url
      DYNAMODB_TABLE     = "transaction-events-dev"
      ARCHIVE_BUCKET     = "evidence-dev-123456789012-us-east-1"
    })
    error_message = "router environment: the URLs it is given are the ones SQS gives its queues"
  }
  assert {
    condition = (
      aws_lambda_function_event_invoke_config.router.maximum_retry_attempts == 2 &&
      aws_lambda_function_event_invoke_config.router.destination_config[0].on_failure[0].destination == aws_sqs_queue.router_failures.arn
    )
    error_message = "router async retries and on-failure destination"
  }
}

run "table_queues_and_failure_destination" {
  assert {
    condition = (
      aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.this.hash_key == "event_id" &&
      aws_dynamodb_table.this.ttl[0].enabled && aws_dynamodb_table.this.ttl[0].attribute_name == "expires_at" &&
      aws_dynamodb_table.this.point_in_time_recovery[0].enabled &&
      !aws_dynamodb_table.this.deletion_protection_enabled
    )
    error_message = "table: billing, key, TTL, PITR or deletion protection"
  }
  assert {
    condition = alltrue([for queue in module.queue : queue.settings == {
      message_retention_seconds     = 604800
      visibility_timeout_seconds    = 300
      sqs_managed_sse_enabled       = true
      dlq_message_retention_seconds = 604800
      dlq_sqs_managed_sse_enabled   = true
    }])
    error_message = "queue retention, visibility timeout or SSE"
  }
  assert {
    condition     = alltrue([for queue in module.queue : queue.redrive_policy == { deadLetterTargetArn = queue.dlq_arn, maxReceiveCount = 3 }])
    error_message = "redrive to the DLQ after 3 receives"
  }
  assert {
    condition     = alltrue([for queue in module.queue : queue.redrive_allow_policy == { redrivePermission = "byQueue", sourceQueueArns = [queue.queue_arn] }])
    error_message = "each DLQ admits only its own source queue"
  }
  assert {
    condition     = aws_sqs_queue.router_failures.message_retention_seconds == 1209600 && aws_sqs_queue.router_failures.sqs_managed_sse_enabled
    error_message = "router failures queue: 14 days, SSE"
  }
}

run "api_validates_throttles_and_traces" {
  assert {
    condition     = aws_api_gateway_model.webhook_event.schema == file("schema/webhook_event.schema.json")
    error_message = "the model must be the request schema file"
  }
  assert {
    condition     = aws_api_gateway_method.webhook_post.request_validator_id == aws_api_gateway_request_validator.body.id && aws_api_gateway_request_validator.body.validate_request_body
    error_message = "body validation"
  }
  assert {
    condition     = aws_api_gateway_integration.webhook_post.type == "AWS_PROXY" && aws_api_gateway_integration.webhook_post.uri == module.function["validator"].invoke_arn
    error_message = "AWS_PROXY integration to the validator"
  }
  assert {
    condition = (
      aws_api_gateway_method_settings.all.settings[0].throttling_burst_limit == 1000 &&
      aws_api_gateway_method_settings.all.settings[0].throttling_rate_limit == 500 &&
      aws_api_gateway_method_settings.all.settings[0].metrics_enabled
    )
    error_message = "throttling and metrics"
  }
  assert {
    condition     = aws_api_gateway_stage.this.xray_tracing_enabled && aws_api_gateway_stage.this.access_log_settings[0].destination_arn == aws_cloudwatch_log_group.api_access.arn
    error_message = "stage X-Ray and access logging"
  }
  assert {
    condition     = aws_lambda_permission.api_invoke_validator.source_arn == "${aws_api_gateway_rest_api.this.execution_arn}/v1/POST/webhook"
    error_message = "the invoke permission must be scoped to this API, stage and method"
  }
  assert {
    condition     = endswith(output.api_endpoint, "/webhook")
    error_message = "api_endpoint is the URL of POST /webhook"
  }
  assert {
    condition     = toset(keys(aws_api_gateway_gateway_response.this)) == toset(["BAD_REQUEST_BODY", "THROTTLED", "INTEGRATION_FAILURE", "DEFAULT_4XX", "DEFAULT_5XX"])
    error_message = "gateway responses"
  }
  assert {
    condition = (aws_api_gateway_gateway_response.this["INTEGRATION_FAILURE"].status_code == "503" &&
    aws_api_gateway_gateway_response.this["INTEGRATION_FAILURE"].response_parameters["gatewayresponse.header.Retry-After"] == "'1'")
    error_message = "a throttled validator (an integration failure) is answered 503 with Retry-After"
  }
  assert {
    condition     = alltrue([for response in aws_api_gateway_gateway_response.this : startswith(response.response_templates["application/json"], "{\"error\": ")])
    error_message = "gateway errors answer JSON with an error key"
  }
}

run "least_privilege" {
  assert {
    condition = [for statement in module.function["validator"].policy.Statement : [statement.Sid, statement.Action, statement.Resource]] == [
      ["RecordEventIds", ["dynamodb:PutItem", "dynamodb:DeleteItem"], [aws_dynamodb_table.this.arn]],
      ["InvokeRouter", ["lambda:InvokeFunction"], ["arn:aws:lambda:us-east-1:123456789012:function:event-router-dev"]],
      ["ReadSigningSecret", ["secretsmanager:GetSecretValue"], [aws_secretsmanager_secret.signing.arn]],
      ["WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], ["${module.function["validator"].log_group_arn}:*"]],
      ["WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]],
    ]
    error_message = "validator permissions"
  }
  assert {
    condition = [for statement in module.function["router"].policy.Statement : [statement.Sid, statement.Action, statement.Resource]] == [
      ["SendToQueues", ["sqs:SendMessage"], concat([for type in ["dispute", "payment", "refund"] : module.queue[type].queue_arn], [aws_sqs_queue.router_failures.arn])],
      ["LeaseAndConfirm", ["dynamodb:UpdateItem"], [aws_dynamodb_table.this.arn]],
      ["Archive", ["s3:PutObject"], ["${aws_s3_bucket.archive.arn}/events/*", "${aws_s3_bucket.archive.arn}/received/*"]],
      ["EncryptArchive", ["kms:GenerateDataKey"], [aws_kms_key.archive[0].arn]],
      ["WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], ["${module.function["router"].log_group_arn}:*"]],
      ["WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]],
    ]
    error_message = "router permissions"
  }
  assert {
    condition = [for statement in module.function["sweeper"].policy.Statement : [statement.Sid, statement.Action, statement.Resource]] == [
      ["FindPending", ["dynamodb:Query"], ["${aws_dynamodb_table.this.arn}/index/pending"]],
      ["ClaimPending", ["dynamodb:UpdateItem"], [aws_dynamodb_table.this.arn]],
      ["InvokeRouter", ["lambda:InvokeFunction"], ["arn:aws:lambda:us-east-1:123456789012:function:event-router-dev"]],
      ["WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], ["${module.function["sweeper"].log_group_arn}:*"]],
      ["WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]],
    ]
    error_message = "sweeper permissions: the index, its records, the router"
  }
  assert {
    condition = alltrue([for statement in concat(module.function["router"].policy.Statement, module.function["sweeper"].policy.Statement) :
      statement.Condition == { "ForAllValues:StringEquals" = { "dynamodb:Attributes" = local.outbox.attributes } }
    if contains(statement.Action, "dynamodb:UpdateItem")])
    error_message = "the router's and the sweeper's UpdateItem are held to the outbox's attributes"
  }
}

run "alarms_and_their_thresholds" {
  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.queue_not_empty)) == toset(["payments-dlq-dev", "refunds-dlq-dev", "disputes-dlq-dev", "router-failures-dev"])
    error_message = "an alarm for each DLQ and the failure queue"
  }
  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.queue_not_empty : alarm.threshold == 0 && alarm.comparison_operator == "GreaterThanThreshold"])
    error_message = "any message in a DLQ alarms"
  }
  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.lambda_error_rate : alarm.threshold == 1])
    error_message = "Lambda error rate > 1 %"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.api_5xx_rate.threshold == 1
    error_message = "API 5XX rate > 1 %"
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.oldest_message) == 3 && alltrue([for alarm in aws_cloudwatch_metric_alarm.oldest_message : alarm.threshold == 600])
    error_message = "oldest message > 10 minutes"
  }
  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == aws_kms_key.alarms.arn && length(aws_sns_topic_subscription.alarm_email) == 0
    error_message = "encrypted topic, no subscription by default"
  }
}

# The router names its queues by URLs built before the queues exist (locals.tf); in another partition
# they carry that partition's domain.
run "queue_urls_in_another_partition" {
  variables {
    aws_region = "cn-north-1"
  }
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws-cn", dns_suffix = "amazonaws.com.cn" }
  }
  assert {
    condition     = module.function["router"].configuration.environment["REFUNDS_QUEUE_URL"] == "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/refunds-queue-dev"
    error_message = "the router's queue URL in the aws-cn partition"
  }
  assert {
    condition     = contains(module.function["router"].policy.Statement[0].Resource, "arn:aws-cn:sqs:cn-north-1:123456789012:refunds-queue-dev")
    error_message = "the router's policy names the queue by its aws-cn ARN"
  }
}

run "payment_provider_sources" {
  variables {
    webhook_sources = {
      stripe = { types = { "charge.succeeded" = "payment" }, tolerance_seconds = 600 }
      square = {}
    }
  }
  override_resource {
    target = aws_secretsmanager_secret.source["stripe"]
    values = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-stripe-dev-AbCdEf" }
  }
  override_resource {
    target = aws_secretsmanager_secret.source["square"]
    values = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-square-dev-AbCdEf" }
  }
  override_resource {
    target = aws_api_gateway_rest_api.this
    values = { execution_arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234", root_resource_id = "root12" }
  }
  assert {
    condition     = toset(keys(aws_api_gateway_resource.source)) == toset(["stripe", "square"]) && aws_api_gateway_resource.source["stripe"].path_part == "stripe"
    error_message = "a route for each enabled source, and none for the others"
  }
  assert {
    condition     = alltrue([for method in aws_api_gateway_method.source_post : method.http_method == "POST" && method.request_validator_id == null])
    error_message = "POST, with no request model: the provider's body is checked by the validator"
  }
  assert {
    condition     = alltrue([for integration in aws_api_gateway_integration.source_post : integration.type == "AWS_PROXY" && integration.uri == module.function["validator"].invoke_arn])
    error_message = "each source's route is served by the validator"
  }
  assert {
    condition = jsondecode(module.function["validator"].configuration.environment["WEBHOOK_SOURCES"]) == {
      stripe = { types = { "charge.succeeded" = "payment" }, secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-stripe-dev-AbCdEf", tolerance_seconds = 600 }
      square = { types = {}, secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-square-dev-AbCdEf", notification_url = "https://${aws_api_gateway_rest_api.this.id}.execute-api.us-east-1.amazonaws.com/v1/webhook/square" }
    }
    error_message = "the validator gets each source's settings and secret; Square's URL defaults to the environment's"
  }
  assert {
    condition     = contains(module.function["validator"].policy.Statement[2].Resource, "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-stripe-dev-AbCdEf") && length(module.function["validator"].policy.Statement[2].Resource) == 3
    error_message = "the validator may read the sources' secrets"
  }
  assert {
    condition     = aws_secretsmanager_secret.source["stripe"].name == "webhook-stripe-dev"
    error_message = "a secret per source, named with the environment"
  }
  assert {
    condition     = aws_lambda_permission.api_invoke_validator_from_sources["square"].source_arn == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1/POST/webhook/square"
    error_message = "API Gateway may invoke the validator for each source's route only"
  }
  assert {
    condition     = output.webhook_sources["stripe"].url == "https://abcdef1234.execute-api.us-east-1.amazonaws.com/v1/webhook/stripe" && output.webhook_sources["stripe"].types == tomap({ "charge.succeeded" = "payment" })
    error_message = "each source's URL to register with its provider, and the environment's type mapping"
  }
}

run "thresholds_and_settings_follow_their_variables" {
  variables {
    environment_suffix               = "prod"
    alarm_lambda_error_rate_percent  = 5
    alarm_oldest_message_age_seconds = 1800
    api_throttling_burst_limit       = 200
    alarm_email                      = "payments-oncall@example.com"
  }
  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.lambda_error_rate : alarm.threshold == 5])
    error_message = "error-rate threshold variable"
  }
  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.oldest_message : alarm.threshold == 1800])
    error_message = "oldest-message threshold variable"
  }
  assert {
    condition     = aws_api_gateway_method_settings.all.settings[0].throttling_burst_limit == 200
    error_message = "burst limit variable"
  }
  assert {
    condition     = aws_dynamodb_table.this.deletion_protection_enabled
    error_message = "prod is protected"
  }
  assert {
    condition     = aws_sns_topic_subscription.alarm_email[0].endpoint == "payments-oncall@example.com"
    error_message = "e-mail subscription"
  }
}

run "a_declared_protection_overrides_the_name_list" {
  variables {
    environment_suffix = "live"
    protected          = true
  }
  assert {
    condition     = aws_dynamodb_table.this.deletion_protection_enabled && output.protected
    error_message = "protected = true protects an environment outside protected_environments"
  }
}

run "unreserved_concurrency_for_a_fresh_account" {
  command = plan
  variables { reserved_concurrency = null }
  assert {
    condition     = alltrue([for fn in [module.function["validator"], module.function["router"]] : fn.configuration.reserved_concurrency == -1])
    error_message = "null reserves nothing: the provider's -1 (unreserved)"
  }
  assert {
    condition     = !output.protected
    error_message = "dev is not protected"
  }
}

run "the_signing_secret_has_no_value_and_a_reusable_name" {
  assert {
    condition     = aws_secretsmanager_secret.signing.name == "webhook-signing-dev" && aws_secretsmanager_secret.signing.recovery_window_in_days == 0
    error_message = "dev's secret: its name, deleted at once on destroy so that dev can be deployed again"
  }
  assert {
    condition     = output.signature_mode == "required" && output.signing_secret_arn == aws_secretsmanager_secret.signing.arn
    error_message = "signature outputs"
  }
}

run "a_protected_environment_keeps_its_secret_recoverable" {
  variables { environment_suffix = "prod" }
  assert {
    condition     = aws_secretsmanager_secret.signing.recovery_window_in_days == 30
    error_message = "prod's secret stays recoverable for 30 days"
  }
}

run "a_dashboard_with_every_queue_the_outcomes_and_the_api" {
  assert {
    condition = alltrue([for name in ["payments-queue-dev", "refunds-dlq-dev", "disputes-dlq-dev", "router-failures-dev", "ValidatorOutcomes", "unauthenticated", "handover_failed", "5XXError", "Throttles", "webhook-validator-dev", "event-router-dev"] :
    strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "\"${name}\"")])
    error_message = "the dashboard shows queues, DLQs, router failures, validator outcomes, API errors and throttles"
  }
  assert {
    condition     = aws_cloudwatch_log_metric_filter.validator_outcomes.pattern == "{ $.outcome = * }" && aws_cloudwatch_log_metric_filter.validator_outcomes.metric_transformation[0].dimensions["Outcome"] == "$.outcome"
    error_message = "validator outcomes counted from the JSON log lines, one metric per outcome"
  }
  assert {
    condition     = aws_cloudwatch_log_metric_filter.validator_outcomes.log_group_name == "/aws/lambda/webhook-validator-dev" && output.dashboard_name == "webhook-pipeline-dev"
    error_message = "the filter reads the validator's log group; the dashboard's name"
  }
}

run "the_outbox_sweeper_runs_every_minute_through_a_sparse_index" {
  assert {
    condition = (
      one(aws_dynamodb_table.this.global_secondary_index).name == "pending" &&
      one(aws_dynamodb_table.this.global_secondary_index).hash_key == "pending_shard" &&
      one(aws_dynamodb_table.this.global_secondary_index).range_key == "pending_due" &&
      one(aws_dynamodb_table.this.global_secondary_index).projection_type == "INCLUDE"
    )
    error_message = "the sparse index of pending records"
  }
  assert {
    condition     = aws_cloudwatch_event_rule.sweeper.schedule_expression == "rate(1 minute)" && aws_cloudwatch_event_target.sweeper.arn == module.function["sweeper"].function_arn
    error_message = "the sweeper's schedule"
  }
  assert {
    condition     = aws_lambda_permission.schedule_invokes_sweeper.principal == "events.amazonaws.com" && aws_lambda_permission.schedule_invokes_sweeper.source_arn == aws_cloudwatch_event_rule.sweeper.arn
    error_message = "only the sweeper's rule may invoke it"
  }
  assert {
    condition     = module.function["sweeper"].configuration.reserved_concurrency == 1 && module.function["sweeper"].configuration.environment == tomap({ DYNAMODB_TABLE = "transaction-events-dev", ROUTER_LAMBDA_NAME = "event-router-dev" })
    error_message = "one sweeper at a time, with its table and router"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.outbox_stuck.threshold == 0 && contains(keys(aws_cloudwatch_metric_alarm.lambda_error_rate), "sweeper")
    error_message = "alarms on records the sweeper cannot hand over and on its errors"
  }
}

run "a_throwaway_archive_is_governed_briefly_and_goes_with_its_environment" {
  assert {
    condition     = aws_s3_bucket.archive.object_lock_enabled && aws_s3_bucket.archive.force_destroy
    error_message = "a throwaway archive is locked and force-destroyed with its environment"
  }
  assert {
    condition     = one(aws_s3_bucket_object_lock_configuration.archive.rule[0].default_retention).mode == "GOVERNANCE" && one(aws_s3_bucket_object_lock_configuration.archive.rule[0].default_retention).days == 1
    error_message = "a throwaway archive is GOVERNANCE-locked for a day"
  }
  assert {
    condition     = aws_s3_bucket.archive.bucket == "evidence-dev-123456789012-us-east-1" && aws_s3_bucket_versioning.archive.versioning_configuration[0].status == "Enabled"
    error_message = "the archive is named by environment, account and region, and versioned"
  }
  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.archive.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" && one(aws_s3_bucket_server_side_encryption_configuration.archive.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.archive[0].arn
    error_message = "the archive is encrypted with the environment's own key"
  }
  assert {
    condition     = alltrue([aws_s3_bucket_public_access_block.archive.block_public_acls, aws_s3_bucket_public_access_block.archive.block_public_policy, aws_s3_bucket_public_access_block.archive.ignore_public_acls, aws_s3_bucket_public_access_block.archive.restrict_public_buckets])
    error_message = "the archive is never public"
  }
  assert {
    condition     = jsondecode(aws_s3_bucket_policy.archive.policy).Statement[0].Effect == "Deny" && jsondecode(aws_s3_bucket_policy.archive.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    error_message = "the archive refuses every request without TLS"
  }
  assert {
    condition     = one(one(aws_s3_bucket_lifecycle_configuration.archive.rule).transition).days == 90 && one(one(aws_s3_bucket_lifecycle_configuration.archive.rule).transition).storage_class == "GLACIER_IR" && one(aws_s3_bucket_lifecycle_configuration.archive.rule).expiration[0].days == 1
    error_message = "the archive moves to a colder class and expires when its retention ends"
  }
  assert {
    condition     = output.archive_lock == { mode = "GOVERNANCE", retention_days = 1 } && module.function["router"].configuration.environment["ARCHIVE_BUCKET"] == aws_s3_bucket.archive.bucket
    error_message = "the lock is an output and the router writes to the archive"
  }
}

run "a_protected_archive_is_in_compliance_mode_for_its_retention" {
  variables {
    environment_suffix     = "prod"
    archive_retention_days = 730
  }
  assert {
    condition     = one(aws_s3_bucket_object_lock_configuration.archive.rule[0].default_retention).mode == "COMPLIANCE" && one(aws_s3_bucket_object_lock_configuration.archive.rule[0].default_retention).days == 730
    error_message = "a protected archive is COMPLIANCE-locked for archive_retention_days"
  }
  assert {
    condition     = !aws_s3_bucket.archive.force_destroy && aws_kms_key.archive[0].deletion_window_in_days == 30
    error_message = "a protected archive is never force-destroyed, and its key waits 30 days before deletion"
  }
}

run "a_given_key_encrypts_the_archive" {
  variables {
    archive_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
  }
  assert {
    condition     = length(aws_kms_key.archive) == 0 && one(aws_s3_bucket_server_side_encryption_configuration.archive.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == var.archive_kms_key_arn
    error_message = "a given key replaces the environment's own"
  }
  assert {
    condition     = [for statement in module.function["router"].policy.Statement : statement.Resource if statement.Sid == "EncryptArchive"] == [[var.archive_kms_key_arn]]
    error_message = "the router may use the given key"
  }
}

run "a_protected_environment_may_keep_a_governance_archive" {
  variables {
    environment_suffix = "staging"
    archive_lock_mode  = "GOVERNANCE"
  }
  assert {
    condition     = one(aws_s3_bucket_object_lock_configuration.archive.rule[0].default_retention).mode == "GOVERNANCE" && one(aws_s3_bucket_object_lock_configuration.archive.rule[0].default_retention).days == 400 && aws_s3_bucket.archive.force_destroy
    error_message = "archive_lock_mode = GOVERNANCE keeps the retention and lets a destroy remove the archive"
  }
}
