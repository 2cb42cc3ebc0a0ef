# The payment providers this environment receives from: POST /webhook/<source> for each source in
# var.webhook_sources, served by the validator (handlers/sources/), with a secret of its own for the
# provider's signing secrets. A source not enabled has no route: API Gateway answers it as any unknown
# path and no function runs.

locals {
  # The URL each source's provider posts to (and Square signs), known before the stage exists: the
  # validator's environment names it, and the stage waits for the validator.
  source_url_prefix = "https://${aws_api_gateway_rest_api.this.id}.execute-api.${var.aws_region}.${data.aws_partition.current.dns_suffix}/${var.api_stage_name}/${aws_api_gateway_resource.webhook.path_part}"

  # What the validator needs of each source (handlers/sources/__init__.py: settings).
  webhook_sources = {
    for name, source in var.webhook_sources : name => merge(
      { types = source.types, secret_arn = aws_secretsmanager_secret.source[name].arn },
      name == "stripe" ? { tolerance_seconds = source.tolerance_seconds } : {},
      name == "square" ? { notification_url = coalesce(source.notification_url, "${local.source_url_prefix}/${name}") } : {},
    )
  }
}

# The provider's signing secrets, set by tapctl secret set --source (never by terraform: no value in
# state or plans), in the signing secret's format: {"secrets": [{"secret": "...", "expires_at": ...}]}.
resource "aws_secretsmanager_secret" "source" {
  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed Secrets Manager key; access is limited by IAM to the validator's role and the operators who set it.
  #checkov:skip=CKV2_AWS_57:The provider issues the secret: tapctl secret set --source stores the one it shows, keeping the previous one while the provider rolls.
  for_each = var.webhook_sources

  name                    = local.names.source_secrets[each.key]
  description             = "${each.key}'s webhook signing secrets for POST /webhook/${each.key} (${local.env}); set by tapctl secret set --source ${each.key}."
  recovery_window_in_days = local.protected ? 30 : 0
}

resource "aws_api_gateway_resource" "source" {
  for_each = var.webhook_sources

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.webhook.id
  path_part   = each.key
}

resource "aws_api_gateway_method" "source_post" {
  #checkov:skip=CKV_AWS_59:A public webhook intake: the provider authenticates by its own signature, verified by the validator.
  #checkov:skip=CKV2_AWS_53:The provider's body is not the canonical event: the validator verifies and checks it, on the raw bytes.
  for_each = var.webhook_sources

  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = aws_api_gateway_resource.source[each.key].id
  http_method   = "POST"
  authorization = "NONE"
}

resource "aws_api_gateway_integration" "source_post" {
  for_each = var.webhook_sources

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.source[each.key].id
  http_method             = aws_api_gateway_method.source_post[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = module.function["validator"].invoke_arn
}

resource "aws_lambda_permission" "api_invoke_validator_from_sources" {
  for_each = var.webhook_sources

  statement_id  = "AllowApiGatewayPostWebhook-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = module.function["validator"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${aws_api_gateway_stage.this.stage_name}/POST/${aws_api_gateway_resource.webhook.path_part}/${each.key}"
}
