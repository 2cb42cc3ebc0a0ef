# POST /webhook: a REST API that validates the body against the request schema, then hands the
# request to the validator (AWS_PROXY). The gateway's own errors answer JSON with an "error" key too.

resource "aws_api_gateway_rest_api" "this" {
  name        = local.names.api
  description = "Financial webhook intake (${local.env})."

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "webhook" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "webhook"
}

resource "aws_api_gateway_model" "webhook_event" {
  rest_api_id  = aws_api_gateway_rest_api.this.id
  name         = "WebhookEvent"
  description  = "Body of POST /webhook (schema/webhook_event.schema.json)."
  content_type = "application/json"
  schema       = local.request_schema
}

resource "aws_api_gateway_request_validator" "body" {
  rest_api_id           = aws_api_gateway_rest_api.this.id
  name                  = "body"
  validate_request_body = true
}

resource "aws_api_gateway_method" "webhook_post" {
  #checkov:skip=CKV_AWS_59:A public webhook intake: senders are external payment providers without AWS credentials.
  #checkov:skip=CKV2_AWS_53:The body is validated by the request validator; the request has no parameters.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  resource_id          = aws_api_gateway_resource.webhook.id
  http_method          = "POST"
  authorization        = "NONE"
  request_validator_id = aws_api_gateway_request_validator.body.id

  request_models = {
    "application/json" = aws_api_gateway_model.webhook_event.name
  }
}

resource "aws_api_gateway_integration" "webhook_post" {
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.webhook.id
  http_method             = aws_api_gateway_method.webhook_post.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = module.function["validator"].invoke_arn
}

locals {
  # Gateway errors in the Lambda's shape. $context.error.messageString is already a quoted JSON string;
  # the validation error is escaped for JSON (escapeJavaScript escapes ' too, which JSON does not allow).
  gateway_responses = {
    BAD_REQUEST_BODY = {
      status   = "400"
      template = <<-EOT
        {"error": "Invalid request body: $util.escapeJavaScript($context.error.validationErrorString).replaceAll("\\'", "'")"}
      EOT
    }
    THROTTLED = { status = "429", template = "{\"error\": $context.error.messageString}" }
    # A throttled validator (at its reserved concurrency) reaches API Gateway as an integration failure,
    # which it answers 500 "Internal server error" by default: a sender reads that as our fault and may
    # give up. 503 with Retry-After says "retry later", which every provider's retry schedule honours.
    INTEGRATION_FAILURE = {
      status   = "503"
      template = "{\"error\": \"Service temporarily unavailable, please retry\"}"
      headers  = { "Retry-After" = "'1'" }
    }
    DEFAULT_4XX = { status = null, template = "{\"error\": $context.error.messageString}" }
    DEFAULT_5XX = { status = null, template = "{\"error\": $context.error.messageString}" }
  }
}

resource "aws_api_gateway_gateway_response" "this" {
  for_each = local.gateway_responses

  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = each.key
  status_code   = each.value.status

  response_templates = {
    "application/json" = trimspace(each.value.template)
  }
  # null, not {}, where there are none: the provider reads an empty map back as null (drift on every plan).
  response_parameters = try({ for name, value in each.value.headers : "gatewayresponse.header.${name}" => value }, null)
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id

  # Redeploy when, and only when, the API's definition changes. Hashing configuration (ids, the
  # schema text, the integration target, the gateway responses) rather than whole resource objects
  # keeps attributes that AWS normalises on refresh from forcing a redeployment on every plan.
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.webhook.id,
      local.request_schema,
      aws_api_gateway_request_validator.body.id,
      aws_api_gateway_method.webhook_post.id,
      aws_api_gateway_integration.webhook_post.id,
      aws_api_gateway_integration.webhook_post.uri,
      local.gateway_responses,
      # The provider sources' routes (sources.tf); none: the same hash as before they existed.
      [for name in sort(keys(var.webhook_sources)) : [aws_api_gateway_resource.source[name].id,
      aws_api_gateway_method.source_post[name].id, aws_api_gateway_integration.source_post[name].id]],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:Access logs hold request metadata only, no bodies; the default encryption at rest suffices.
  #checkov:skip=CKV_AWS_338:Retention is a variable, 30 days by the specification.
  name              = local.names.api_access_logs
  retention_in_days = var.log_retention_days
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:No caching: every POST is a distinct event and must reach the validator.
  #checkov:skip=CKV2_AWS_29:WAF is an account-level decision (cost, managed rules) outside this module.
  #checkov:skip=CKV2_AWS_51:Senders are external providers; client certificates are not part of the contract.
  #checkov:skip=CKV2_AWS_4:Execution logging needs the account-level role; method settings set ERROR when create_api_gateway_account_role is on. Access logging is always on.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.api_stage_name
  xray_tracing_enabled = var.enable_xray_tracing

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      ip               = "$context.identity.sourceIp"
      requestTime      = "$context.requestTime"
      httpMethod       = "$context.httpMethod"
      resourcePath     = "$context.resourcePath"
      status           = "$context.status"
      responseLength   = "$context.responseLength"
      latency          = "$context.responseLatency"
      integrationError = "$context.integration.error"
      errorMessage     = "$context.error.message"
    })
  }

  # The validator names the router, and the router its queues, by ARN and URL, not through the
  # resources, so nothing else orders them: the stage goes live only once the functions, the queues
  # and the router's failure destination exist.
  depends_on = [aws_api_gateway_account.this, module.function, module.queue, aws_lambda_function_event_invoke_config.router]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:No caching: every POST is a distinct event and must reach the validator.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = var.create_api_gateway_account_role ? "ERROR" : "OFF"
    throttling_burst_limit = var.api_throttling_burst_limit
    throttling_rate_limit  = var.api_throttling_rate_limit
  }
}

resource "aws_lambda_permission" "api_invoke_validator" {
  statement_id  = "AllowApiGatewayPostWebhook"
  action        = "lambda:InvokeFunction"
  function_name = module.function["validator"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${aws_api_gateway_stage.this.stage_name}/${aws_api_gateway_method.webhook_post.http_method}/${aws_api_gateway_resource.webhook.path_part}"
}
