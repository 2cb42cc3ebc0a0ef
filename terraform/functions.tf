# The functions. Environment variable names are the handlers' contract (handlers/validator.py and
# handlers/sweeper.py ENVIRONMENT; handlers/router.py QUEUE_URL_ENV, TABLE_ENV and ARCHIVE_ENV).

# One entry per function, by the name tapctl gives it (tapctl/config.py FUNCTIONS; tests/unit/test_config.py
# checks they agree): what differs between them. Everything else is the same for all three.
locals {
  functions = {
    validator = {
      description          = "Validates POST /webhook events, de-duplicates event_id, hands them to the router."
      handler              = "handlers.validator.lambda_handler"
      package_path         = var.validator_package_path
      timeout              = var.validator_timeout
      reserved_concurrency = var.reserved_concurrency
      policy_statements    = local.validator_policy_statements
      environment = {
        DYNAMODB_TABLE               = aws_dynamodb_table.this.name
        ROUTER_LAMBDA_NAME           = local.names.router
        SIGNING_SECRET_ARN           = aws_secretsmanager_secret.signing.arn
        SIGNATURE_MODE               = var.signature_mode
        SIGNATURE_TOLERANCE_SECONDS  = tostring(var.signature_tolerance_seconds)
        SIGNING_SECRET_CACHE_SECONDS = tostring(var.signing_secret_cache_seconds)
        WEBHOOK_SOURCES              = jsonencode(local.webhook_sources)
        DEDUP_TTL_DAYS               = tostring(var.dedup_ttl_days)
      }
    }
    router = {
      description          = "Sends accepted events to the payments, refunds or disputes queue."
      handler              = "handlers.router.lambda_handler"
      package_path         = var.router_package_path
      timeout              = var.router_timeout
      reserved_concurrency = var.reserved_concurrency
      policy_statements    = local.router_policy_statements
      environment = merge(
        { for queue in values(local.queues) : queue.url_variable => "${local.queue_url_prefix}/${queue.queue}" },
        { DYNAMODB_TABLE = aws_dynamodb_table.this.name, ARCHIVE_BUCKET = aws_s3_bucket.archive.bucket },
      )
    }
    # Hands over again the accepted events whose hand-over was never confirmed (a validator that died in
    # between): every minute, through the table's sparse index "pending".
    sweeper = {
      description          = "Hands over again accepted events whose hand-over to the router was never confirmed."
      handler              = "handlers.sweeper.lambda_handler"
      package_path         = var.sweeper_package_path
      timeout              = var.sweeper_timeout
      reserved_concurrency = var.reserved_concurrency == null ? null : 1 # one run at a time; none reserved when unreserved
      policy_statements    = local.sweeper_policy_statements
      environment = {
        DYNAMODB_TABLE     = aws_dynamodb_table.this.name
        ROUTER_LAMBDA_NAME = local.names.router
      }
    }
  }
}

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  name                 = local.names[each.key]
  description          = each.value.description
  handler              = each.value.handler
  package_path         = each.value.package_path
  runtime              = var.lambda_runtime
  architecture         = var.lambda_architecture
  memory_size          = var.lambda_memory_size
  timeout              = each.value.timeout
  reserved_concurrency = each.value.reserved_concurrency
  enable_xray_tracing  = var.enable_xray_tracing
  log_retention_days   = var.log_retention_days
  policy_statements    = each.value.policy_statements
  environment          = each.value.environment
}

# The addresses of environments deployed before the functions became one map: terraform moves their
# state, so an upgrade changes nothing (tests/integration/test_upgrade.py).
moved {
  from = module.validator
  to   = module.function["validator"]
}

moved {
  from = module.router
  to   = module.function["router"]
}

moved {
  from = module.sweeper
  to   = module.function["sweeper"]
}

resource "aws_cloudwatch_event_rule" "sweeper" {
  name                = local.names.sweeper
  description         = "Runs ${local.names.sweeper}."
  schedule_expression = var.sweeper_schedule_expression
}

resource "aws_cloudwatch_event_target" "sweeper" {
  rule = aws_cloudwatch_event_rule.sweeper.name
  arn  = module.function["sweeper"].function_arn
}

resource "aws_lambda_permission" "schedule_invokes_sweeper" {
  statement_id  = "AllowScheduleInvokeSweeper"
  action        = "lambda:InvokeFunction"
  function_name = module.function["sweeper"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweeper.arn
}

# Without this, a routing failure after Lambda's retries would drop the event.
resource "aws_lambda_function_event_invoke_config" "router" {
  function_name                = module.function["router"].function_name
  maximum_retry_attempts       = var.router_maximum_retry_attempts
  maximum_event_age_in_seconds = var.router_maximum_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.router_failures.arn
    }
  }
}
