variable "name" {
  description = "Name of the queue."
  type        = string
}

variable "dlq_name" {
  description = "Name of its dead-letter queue."
  type        = string
}

variable "message_retention_seconds" {
  description = "How long the queue keeps a message."
  type        = number
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the queue."
  type        = number
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message."
  type        = number
}

variable "max_receive_count" {
  description = "Receives after which a message moves to the dead-letter queue."
  type        = number
}

variable "arn_prefix" {
  description = "arn:<partition>:sqs:<region>:<account> of the queues, to name the source queue in the DLQ's redrive-allow policy."
  type        = string
}
