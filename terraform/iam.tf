# What each function may do beyond its own logs and traces (those are in modules/function):
# least privilege, named resources only.

locals {
  # UpdateItem may name only the outbox's attributes: the router and the sweeper can never rewrite a
  # record's de-duplication fields (expires_at, request_id) or add others.
  outbox_attributes_only = { test = "ForAllValues:StringEquals", variable = "dynamodb:Attributes", values = local.outbox.attributes }

  validator_policy_statements = [
    {
      sid       = "RecordEventIds"
      actions   = ["dynamodb:PutItem", "dynamodb:DeleteItem"]
      resources = [aws_dynamodb_table.this.arn]
    },
    {
      sid       = "InvokeRouter"
      actions   = ["lambda:InvokeFunction"]
      resources = [local.router_arn]
    },
    {
      sid       = "ReadSigningSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = concat([aws_secretsmanager_secret.signing.arn], [for name in sort(keys(var.webhook_sources)) : aws_secretsmanager_secret.source[name].arn])
    },
  ]

  router_policy_statements = [
    {
      sid       = "SendToQueues"
      actions   = ["sqs:SendMessage"]
      resources = [for name in concat(values(local.queues)[*].queue, [local.names.router_failures]) : "${local.arn_prefix.sqs}:${name}"]
    },
    {
      sid        = "LeaseAndConfirm"
      actions    = ["dynamodb:UpdateItem"]
      resources  = [aws_dynamodb_table.this.arn]
      conditions = [local.outbox_attributes_only]
    },
    {
      # Write-once evidence: puts under the archive's prefixes, no read, no delete, no retention change.
      sid       = "Archive"
      actions   = ["s3:PutObject"]
      resources = [for prefix in local.archive.prefixes : "${aws_s3_bucket.archive.arn}/${prefix}*"]
    },
    {
      sid       = "EncryptArchive"
      actions   = ["kms:GenerateDataKey"]
      resources = [local.archive.key_arn]
    },
  ]

  sweeper_policy_statements = [
    {
      sid       = "FindPending"
      actions   = ["dynamodb:Query"]
      resources = ["${aws_dynamodb_table.this.arn}/index/${local.outbox.index}"]
    },
    {
      sid        = "ClaimPending"
      actions    = ["dynamodb:UpdateItem"]
      resources  = [aws_dynamodb_table.this.arn]
      conditions = [local.outbox_attributes_only]
    },
    {
      sid       = "InvokeRouter"
      actions   = ["lambda:InvokeFunction"]
      resources = [local.router_arn]
    },
  ]
}

# API Gateway writes access logs through one role per account and region (see the variable).
resource "aws_iam_role" "api_gateway_logs" {
  count = var.create_api_gateway_account_role ? 1 : 0
  name  = "${local.names.api}-logs-role"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "apigateway.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "api_gateway_logs" {
  count      = var.create_api_gateway_account_role ? 1 : 0
  role       = aws_iam_role.api_gateway_logs[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count               = var.create_api_gateway_account_role ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.api_gateway_logs[0].arn
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}
