variable "name" {
  description = "Name of the function; its log group is /aws/lambda/<name> and its role <name>-role."
  type        = string
}

variable "description" {
  description = "What the function does."
  type        = string
}

variable "handler" {
  description = "Entry point inside the package, module.function."
  type        = string
}

variable "package_path" {
  description = "Path of the zip to deploy."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime."
  type        = string
}

variable "architecture" {
  description = "Instruction set: arm64 or x86_64."
  type        = string
}

variable "memory_size" {
  description = "Memory in MB."
  type        = number
}

variable "timeout" {
  description = "Timeout in seconds."
  type        = number
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions; null for unreserved."
  type        = number
}

variable "enable_xray_tracing" {
  description = "Active X-Ray tracing."
  type        = bool
}

variable "environment" {
  description = "Environment variables of the function."
  type        = map(string)
}

variable "log_retention_days" {
  description = "Retention of the function's log group in days."
  type        = number
}

variable "policy_statements" {
  description = "What the function may do beyond writing its own logs and X-Ray traces: a list of {sid, actions, resources, conditions (optional: [{test, variable, values}])}."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
}
