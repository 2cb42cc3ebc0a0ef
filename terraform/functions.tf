# The two functions. Environment variable names are the handlers' contract
# (handlers/validator.py ENVIRONMENT; handlers/router.py QUEUE_URL_ENV).

module "validator" {
  source = "./modules/function"

  name                 = local.names.validator
  description          = "Validates POST /webhook events, de-duplicates event_id, hands them to the router."
  handler              = "handlers.validator.lambda_handler"
  package_path         = var.validator_package_path
  runtime              = var.lambda_runtime
  architecture         = var.lambda_architecture
  memory_size          = var.lambda_memory_size
  timeout              = var.validator_timeout
  reserved_concurrency = var.reserved_concurrency
  enable_xray_tracing  = var.enable_xray_tracing
  log_retention_days   = var.log_retention_days
  policy_statements    = local.validator_policy_statements

  environment = {
    DYNAMODB_TABLE               = aws_dynamodb_table.this.name
    ROUTER_LAMBDA_NAME           = local.names.router
    SIGNING_SECRET_ARN           = aws_secretsmanager_secret.signing.arn
    SIGNATURE_MODE               = var.signature_mode
    SIGNATURE_TOLERANCE_SECONDS  = tostring(var.signature_tolerance_seconds)
    SIGNING_SECRET_CACHE_SECONDS = tostring(var.signing_secret_cache_seconds)
  }
}

module "router" {
  source = "./modules/function"

  name                 = local.names.router
  description          = "Sends accepted events to the payments, refunds or disputes queue."
  handler              = "handlers.router.lambda_handler"
  package_path         = var.router_package_path
  runtime              = var.lambda_runtime
  architecture         = var.lambda_architecture
  memory_size          = var.lambda_memory_size
  timeout              = var.router_timeout
  reserved_concurrency = var.reserved_concurrency
  enable_xray_tracing  = var.enable_xray_tracing
  log_retention_days   = var.log_retention_days
  policy_statements    = local.router_policy_statements

  environment = { for queue in keys(local.queues) : local.queues[queue].url_variable => module.queue[queue].queue_url }
}

# Without this, a routing failure after Lambda's retries would drop the event.
resource "aws_lambda_function_event_invoke_config" "router" {
  function_name                = module.router.function_name
  maximum_retry_attempts       = var.router_maximum_retry_attempts
  maximum_event_age_in_seconds = var.router_maximum_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.router_failures.arn
    }
  }
}
