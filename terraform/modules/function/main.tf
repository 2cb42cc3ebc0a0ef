# A Lambda function with its own execution role and log group. The log group exists before the
# function, so Lambda never creates one of its own without retention.

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:Logs hold no amounts or bodies (handlers log ids and outcomes only); the default encryption at rest suffices.
  #checkov:skip=CKV_AWS_338:Retention is a variable, 30 days by the specification; a year of logs is a choice for protected environments.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_iam_role" "this" {
  name = "${var.name}-role"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy" "this" {
  name = "${var.name}-policy"
  role = aws_iam_role.this.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [for statement in var.policy_statements : merge({
        Sid      = statement.sid
        Effect   = "Allow"
        Action   = statement.actions
        Resource = statement.resources
        }, length(statement.conditions) == 0 ? {} : {
        Condition = { for test in distinct(statement.conditions[*].test) : test => {
          for condition in statement.conditions : condition.variable => condition.values if condition.test == test
        } }
      })],
      [
        {
          Sid      = "WriteOwnLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = ["${aws_cloudwatch_log_group.this.arn}:*"]
        },
        {
          # X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions:
          # AWS requires "*" here. This is the only wildcard resource in the module.
          Sid      = "WriteTraces"
          Effect   = "Allow"
          Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
          Resource = ["*"]
        },
      ],
    )
  })
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:No VPC: the functions reach only regional AWS endpoints (DynamoDB, Lambda, SQS), and a VPC would add NAT or endpoint cost and cold-start time for nothing.
  #checkov:skip=CKV_AWS_116:No Lambda DLQ: the validator is invoked synchronously (the caller sees the error); the router's asynchronous failures go to its on-failure destination, which supersedes a DLQ.
  #checkov:skip=CKV_AWS_173:The environment holds only resource names and queue URLs, no secrets; the default encryption at rest suffices.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile outside this module; the packages are reproducible and their sha256 is recorded by tapctl.
  function_name                  = var.name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  handler                        = var.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency # -1: unreserved
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = var.enable_xray_tracing ? "Active" : "PassThrough"
  }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}
