output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "ARN API Gateway uses to invoke the function."
  value       = aws_lambda_function.this.invoke_arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of the function's log group."
  value       = aws_cloudwatch_log_group.this.arn
}

output "policy" {
  description = "The execution role's inline policy, decoded (for checks and reviews)."
  value       = jsondecode(aws_iam_role_policy.this.policy)
}

output "configuration" {
  description = "The settings the function was deployed with (for checks and reviews)."
  value = {
    runtime              = aws_lambda_function.this.runtime
    architectures        = aws_lambda_function.this.architectures
    handler              = aws_lambda_function.this.handler
    memory_size          = aws_lambda_function.this.memory_size
    timeout              = aws_lambda_function.this.timeout
    reserved_concurrency = aws_lambda_function.this.reserved_concurrent_executions
    tracing_mode         = aws_lambda_function.this.tracing_config[0].mode
    environment          = aws_lambda_function.this.environment[0].variables
    log_retention_days   = aws_cloudwatch_log_group.this.retention_in_days
  }
}
