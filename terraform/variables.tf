# -- environment -----------------------------------------------------------------------------------

variable "environment_suffix" {
  description = "Name of the environment (dev, staging, prod, pr-123, ...); every resource name ends with it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.environment_suffix))
    error_message = "environment_suffix must start with a lower-case letter and hold only lower-case letters, digits and '-', at most 20 characters."
  }
}

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as us-east-1."
  }
}

variable "aws_account_id" {
  description = "AWS account the environment lives in; terraform then refuses credentials of any other account. null: no check (tapctl always sets it)."
  type        = string
  default     = null

  validation {
    condition     = var.aws_account_id == null || can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id must be a 12-digit AWS account id (in quotes) or null."
  }
}

variable "tags" {
  description = "Tags added to every resource (Project and Environment are always set)."
  type        = map(string)
  default     = {}
}

variable "protected_environments" {
  description = "Environments that are protected unless protected says otherwise: deletion protection on the DynamoDB table, and tapctl warns when their alarms reach no one."
  type        = list(string)
  default     = ["staging", "prod"]
}

variable "protected" {
  description = "Whether this environment is protected (see protected_environments); null means it is exactly when its name is in protected_environments."
  type        = bool
  default     = null
}

variable "enable_deletion_protection" {
  description = "Deletion protection for the DynamoDB table; null means on exactly for protected environments."
  type        = bool
  default     = null
}

# -- functions -------------------------------------------------------------------------------------

variable "validator_package_path" {
  description = "Path of the webhook-validator zip built by `tapctl package` (build/webhook-validator.zip)."
  type        = string

  validation {
    condition     = fileexists(var.validator_package_path)
    error_message = "validator_package_path must name an existing zip; build it with `tapctl package`."
  }
}

variable "router_package_path" {
  description = "Path of the event-router zip built by `tapctl package` (build/event-router.zip)."
  type        = string

  validation {
    condition     = fileexists(var.router_package_path)
    error_message = "router_package_path must name an existing zip; build it with `tapctl package`."
  }
}

variable "sweeper_package_path" {
  description = "Path of the outbox-sweeper zip built by `tapctl package` (build/outbox-sweeper.zip)."
  type        = string

  validation {
    condition     = fileexists(var.sweeper_package_path)
    error_message = "sweeper_package_path must name an existing zip; build it with `tapctl package`."
  }
}

variable "sweeper_schedule_expression" {
  description = "How often outbox-sweeper runs: an accepted event whose hand-over was lost reaches its queue within this plus 30 s."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate\\([0-9]+ (minute|minutes|hour|hours)\\)|cron\\(.+\\))$", var.sweeper_schedule_expression))
    error_message = "sweeper_schedule_expression must be an EventBridge rate(...) or cron(...) expression, e.g. rate(1 minute)."
  }
}

variable "sweeper_timeout" {
  description = "Timeout of outbox-sweeper in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.sweeper_timeout >= 10 && var.sweeper_timeout <= 900 && floor(var.sweeper_timeout) == var.sweeper_timeout
    error_message = "sweeper_timeout must be a whole number of seconds from 10 to 900."
  }
}

variable "lambda_runtime" {
  description = "Lambda runtime of every function."
  type        = string
  default     = "python3.11"

  validation {
    condition     = can(regex("^python3\\.(1[1-9])$", var.lambda_runtime))
    error_message = "lambda_runtime must be python3.11 or a later python3.x runtime."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of every function."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_size" {
  description = "Memory of each function in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240 && floor(var.lambda_memory_size) == var.lambda_memory_size
    error_message = "lambda_memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "validator_timeout" {
  description = "Timeout of webhook-validator in seconds, at least 28: the worst case of its four AWS calls (the signing secret's read, record, hand-over, rollback), which must all end before Lambda stops it. API Gateway gives up after 29 s."
  type        = number
  default     = 30

  validation {
    condition     = var.validator_timeout >= 28 && var.validator_timeout <= 900 && floor(var.validator_timeout) == var.validator_timeout
    error_message = "validator_timeout must be a whole number of seconds from 28 to 900."
  }
}

variable "router_timeout" {
  description = "Timeout of event-router in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.router_timeout >= 1 && var.router_timeout <= 900 && floor(var.router_timeout) == var.router_timeout
    error_message = "router_timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of each function (see Capacity in README.md); null means unreserved: the functions share the account's unreserved pool, which a fresh account (quota 10) needs."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency, false)
    error_message = "reserved_concurrency must be a whole number of at least 1 (0 would stop the pipeline), or null for unreserved."
  }
}

variable "enable_xray_tracing" {
  description = "Active X-Ray tracing on every function and on the API stage."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the functions' and the API's log groups, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "router_maximum_retry_attempts" {
  description = "How often Lambda retries a failed asynchronous invocation of event-router before the failure queue."
  type        = number
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.router_maximum_retry_attempts)
    error_message = "router_maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "router_maximum_event_age_seconds" {
  description = "How long an asynchronous invocation of event-router may wait before it goes to the failure queue."
  type        = number
  default     = 21600

  validation {
    condition     = var.router_maximum_event_age_seconds >= 60 && var.router_maximum_event_age_seconds <= 21600
    error_message = "router_maximum_event_age_seconds must be from 60 to 21600."
  }
}

# -- signed webhooks -------------------------------------------------------------------------------

variable "signature_mode" {
  description = "required: only events signed with the environment's secret (Standard Webhooks) get in; report: signatures are verified and logged, but unsigned events are accepted (while senders migrate); off: no verification."
  type        = string
  default     = "required"

  validation {
    condition     = contains(["required", "report", "off"], var.signature_mode)
    error_message = "signature_mode must be required, report or off."
  }
}

variable "allow_unsigned_webhooks" {
  description = "Confirms signature_mode = \"off\" on a protected environment (refused without it)."
  type        = bool
  default     = false
}

variable "signature_tolerance_seconds" {
  description = "How far a signature's webhook-timestamp may lie in the past or the future (replay protection)."
  type        = number
  default     = 300

  validation {
    condition     = var.signature_tolerance_seconds >= 30 && var.signature_tolerance_seconds <= 3600 && floor(var.signature_tolerance_seconds) == var.signature_tolerance_seconds
    error_message = "signature_tolerance_seconds must be a whole number of seconds from 30 to 3600."
  }
}

variable "signing_secret_cache_seconds" {
  description = "How long a warm validator keeps the signing secret before reading it again (1 to 3600). A new secret verifies within seconds anyway (an unmatched signature makes a container read again, at most every 10 s); a revoked one keeps verifying in a warm container for up to this long, unless tapctl secret rotate --recycle recycles the containers."
  type        = number
  default     = 300

  validation {
    condition     = var.signing_secret_cache_seconds >= 1 && var.signing_secret_cache_seconds <= 3600 && floor(var.signing_secret_cache_seconds) == var.signing_secret_cache_seconds
    error_message = "signing_secret_cache_seconds must be a whole number of seconds from 1 to 3600 (0 would read the secret on every request)."
  }
}

# -- table -----------------------------------------------------------------------------------------

variable "dedup_ttl_days" {
  description = "How long an accepted event_id stays a duplicate (its record's TTL), in days (1 to 365). At least as long as any sender retries: Adyen retries for up to 30 days from the first attempt, Stripe for up to 3. A record is written once, so a change applies to events accepted after it; the table holds one small item per event for this long."
  type        = number
  default     = 30

  validation {
    condition     = var.dedup_ttl_days >= 1 && var.dedup_ttl_days <= 365 && floor(var.dedup_ttl_days) == var.dedup_ttl_days
    error_message = "dedup_ttl_days must be a whole number of days from 1 to 365."
  }
}

# -- evidence archive ------------------------------------------------------------------------------

variable "archive_retention_days" {
  description = "How long each archived request is locked (S3 Object Lock, COMPLIANCE) on a protected environment, in days; then it expires. Card disputes open up to 120 days after a payment (540 for some networks), and auditors ask for a year or more: 400 covers a year of evidence plus a dispute's window. COMPLIANCE cannot be shortened or bypassed by anyone, the account root included: a version locked for 400 days is paid for 400 days."
  type        = number
  default     = 400

  validation {
    condition     = var.archive_retention_days >= 1 && var.archive_retention_days <= 36500 && floor(var.archive_retention_days) == var.archive_retention_days
    error_message = "archive_retention_days must be a whole number of days from 1 to 36500."
  }
}

variable "archive_throwaway_retention_days" {
  description = "How long each archived request is locked (GOVERNANCE) on an environment that is not protected, in days: short, and tapctl destroy removes the archive with the environment."
  type        = number
  default     = 1

  validation {
    condition     = var.archive_throwaway_retention_days >= 1 && var.archive_throwaway_retention_days <= 36500 && floor(var.archive_throwaway_retention_days) == var.archive_throwaway_retention_days
    error_message = "archive_throwaway_retention_days must be a whole number of days from 1 to 36500."
  }
}

variable "archive_transition_days" {
  description = "Days after which archived requests of 128 KB or more move to archive_transition_storage_class (smaller ones stay: the colder classes bill at least 128 KB per object)."
  type        = number
  default     = 90

  validation {
    condition     = var.archive_transition_days >= 30 && floor(var.archive_transition_days) == var.archive_transition_days
    error_message = "archive_transition_days must be a whole number of days, at least 30 (S3's minimum before a move to an infrequent-access class)."
  }
}

variable "archive_transition_storage_class" {
  description = "The colder class archived requests move to: GLACIER_IR (read in milliseconds, so tapctl archive get keeps working) or STANDARD_IA."
  type        = string
  default     = "GLACIER_IR"

  validation {
    condition     = contains(["GLACIER_IR", "STANDARD_IA"], var.archive_transition_storage_class)
    error_message = "archive_transition_storage_class must be GLACIER_IR or STANDARD_IA: the archive is read by tapctl archive get and replay, which a class that must be restored first would break."
  }
}

variable "archive_lock_mode" {
  description = "The archive's Object Lock mode: COMPLIANCE (nobody can delete a version before its retention ends, and the archive outlives a destroy) or GOVERNANCE (tapctl destroy removes the archive with the environment); null means COMPLIANCE exactly for protected environments."
  type        = string
  default     = null

  validation {
    condition     = var.archive_lock_mode == null || contains(["COMPLIANCE", "GOVERNANCE"], coalesce(var.archive_lock_mode, "COMPLIANCE"))
    error_message = "archive_lock_mode must be COMPLIANCE, GOVERNANCE or null."
  }
}

variable "archive_kms_key_arn" {
  description = "ARN of a KMS key that encrypts the archive; null creates one for the environment. A given key's policy must let the router's role use kms:GenerateDataKey."
  type        = string
  default     = null
}

variable "enable_point_in_time_recovery" {
  description = "Point-in-time recovery of the de-duplication table."
  type        = bool
  default     = true
}

# -- queues ----------------------------------------------------------------------------------------

variable "queue_message_retention_seconds" {
  description = "How long the payments, refunds and disputes queues keep a message."
  type        = number
  default     = 604800

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "queue_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the payments, refunds and disputes queues."
  type        = number
  default     = 300

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 0 && var.queue_visibility_timeout_seconds <= 43200
    error_message = "queue_visibility_timeout_seconds must be from 0 to 43200 (12 hours)."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long each dead-letter queue keeps a message."
  type        = number
  default     = 604800

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "max_receive_count" {
  description = "Receives after which a message moves to its dead-letter queue."
  type        = number
  default     = 3

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number from 1 to 1000."
  }
}

variable "router_failures_retention_seconds" {
  description = "How long the router-failures queue keeps an event that could not be routed."
  type        = number
  default     = 1209600

  validation {
    condition     = var.router_failures_retention_seconds >= 60 && var.router_failures_retention_seconds <= 1209600
    error_message = "router_failures_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

# -- API -------------------------------------------------------------------------------------------

variable "api_stage_name" {
  description = "Name of the API Gateway stage; part of api_endpoint."
  type        = string
  default     = "v1"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.api_stage_name))
    error_message = "api_stage_name may hold only letters, digits, '-' and '_' (1 to 128 characters)."
  }
}

variable "api_throttling_burst_limit" {
  description = "Burst limit of POST /webhook (requests)."
  type        = number
  default     = 1000

  validation {
    condition     = var.api_throttling_burst_limit >= 0 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number of at least 0."
  }
}

variable "api_throttling_rate_limit" {
  description = "Steady-state rate limit of POST /webhook (requests per second)."
  type        = number
  default     = 500

  validation {
    condition     = var.api_throttling_rate_limit >= 0
    error_message = "api_throttling_rate_limit must be at least 0."
  }
}

variable "create_api_gateway_account_role" {
  description = "Create the IAM role API Gateway needs to write access logs and set it in the region's account settings. That setting is one per account and region: enable it in exactly one environment (a second one would overwrite it, and destroying it would break the others' logging)."
  type        = bool
  default     = false
}

# -- alarms ----------------------------------------------------------------------------------------

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }
}

variable "alarm_period_seconds" {
  description = "Period over which each alarm evaluates its metric."
  type        = number
  default     = 60

  validation {
    condition     = contains([10, 30], var.alarm_period_seconds) || (var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0)
    error_message = "alarm_period_seconds must be 10, 30 or a multiple of 60."
  }
}

variable "alarm_dlq_messages_threshold" {
  description = "An alarm fires when a dead-letter queue or the router-failures queue holds more messages than this."
  type        = number
  default     = 0

  validation {
    condition     = var.alarm_dlq_messages_threshold >= 0
    error_message = "alarm_dlq_messages_threshold must be at least 0."
  }
}

variable "alarm_lambda_error_rate_percent" {
  description = "An alarm fires when a function's error rate (errors / invocations) exceeds this percentage."
  type        = number
  default     = 1

  validation {
    condition     = var.alarm_lambda_error_rate_percent >= 0 && var.alarm_lambda_error_rate_percent <= 100
    error_message = "alarm_lambda_error_rate_percent must be from 0 to 100."
  }
}

variable "alarm_api_5xx_rate_percent" {
  description = "An alarm fires when the API's 5XX rate exceeds this percentage of requests."
  type        = number
  default     = 1

  validation {
    condition     = var.alarm_api_5xx_rate_percent >= 0 && var.alarm_api_5xx_rate_percent <= 100
    error_message = "alarm_api_5xx_rate_percent must be from 0 to 100."
  }
}

variable "alarm_oldest_message_age_seconds" {
  description = "An alarm fires when the oldest message in the payments, refunds or disputes queue is older than this."
  type        = number
  default     = 600

  validation {
    condition     = var.alarm_oldest_message_age_seconds >= 60
    error_message = "alarm_oldest_message_age_seconds must be at least 60."
  }
}

variable "webhook_sources" {
  description = "The payment providers this environment receives from, each at POST /webhook/<source> (tapctl.toml [sources.<name>]), with its settings: types maps the provider's event types to payment, refund, dispute or ignore, over the source's defaults (README, \"Payment providers\"); tolerance_seconds is Stripe's signature tolerance; notification_url is the URL registered in Square's dashboard, by default this environment's URL for it. A source not listed has no route."
  type = map(object({
    types             = optional(map(string), {})
    tolerance_seconds = optional(number, 300)
    notification_url  = optional(string)
  }))
  default = {}

  validation {
    # The sources, by name (tapctl/config.py SOURCES; tests/unit/test_config.py checks they agree).
    condition     = alltrue([for name in keys(var.webhook_sources) : contains(["stripe", "adyen", "braintree", "razorpay", "square"], name)])
    error_message = "webhook_sources may name only stripe, adyen, braintree, razorpay and square."
  }
  validation {
    condition     = alltrue(flatten([for source in values(var.webhook_sources) : [for kind in values(source.types) : contains(["payment", "refund", "dispute", "ignore"], kind)]]))
    error_message = "webhook_sources' types map event types to payment, refund, dispute or ignore."
  }
  validation {
    condition     = alltrue([for source in values(var.webhook_sources) : source.tolerance_seconds >= 60 && source.tolerance_seconds <= 3600])
    error_message = "webhook_sources' tolerance_seconds is between 60 and 3600."
  }
}
