# Bad input fails at plan time with the variable's message, not half-way through an apply.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment_suffix     = "dev"
  validator_package_path = "tests/fixtures/empty.zip"
  router_package_path    = "tests/fixtures/empty.zip"
  sweeper_package_path   = "tests/fixtures/empty.zip"
}

run "upper_case_suffix" {
  command = plan
  variables { environment_suffix = "Dev" }
  expect_failures = [var.environment_suffix]
}

run "suffix_starting_with_a_digit" {
  command = plan
  variables { environment_suffix = "1dev" }
  expect_failures = [var.environment_suffix]
}

run "suffix_with_underscore" {
  command = plan
  variables { environment_suffix = "pr_123" }
  expect_failures = [var.environment_suffix]
}

run "suffix_longer_than_20" {
  command = plan
  variables { environment_suffix = "a23456789012345678901" }
  expect_failures = [var.environment_suffix]
}

run "empty_suffix" {
  command = plan
  variables { environment_suffix = "" }
  expect_failures = [var.environment_suffix]
}

run "longest_valid_suffix" {
  command = plan
  variables { environment_suffix = "pr-12345678901234567" }
  assert {
    condition     = aws_dynamodb_table.this.name == "transaction-events-pr-12345678901234567"
    error_message = "a 20-character suffix is valid"
  }
}

run "missing_package" {
  command = plan
  variables { validator_package_path = "build/not-built.zip" }
  expect_failures = [var.validator_package_path]
}

run "unknown_architecture" {
  command = plan
  variables { lambda_architecture = "arm" }
  expect_failures = [var.lambda_architecture]
}

run "unsupported_log_retention" {
  command = plan
  variables { log_retention_days = 31 }
  expect_failures = [var.log_retention_days]
}

run "too_many_router_retries" {
  command = plan
  variables { router_maximum_retry_attempts = 3 }
  expect_failures = [var.router_maximum_retry_attempts]
}

run "zero_reserved_concurrency" {
  command = plan
  variables { reserved_concurrency = 0 }
  expect_failures = [var.reserved_concurrency]
}

run "queue_retention_beyond_14_days" {
  command = plan
  variables { queue_message_retention_seconds = 1209601 }
  expect_failures = [var.queue_message_retention_seconds]
}

run "account_id_that_is_not_12_digits" {
  command = plan
  variables { aws_account_id = "12345" }
  expect_failures = [var.aws_account_id]
}

run "unknown_signature_mode" {
  command = plan
  variables { signature_mode = "optional" }
  expect_failures = [var.signature_mode]
}

run "unsigned_webhooks_on_a_protected_environment_need_a_second_variable" {
  command = plan
  variables {
    environment_suffix = "prod"
    signature_mode     = "off"
  }
  expect_failures = [aws_secretsmanager_secret.signing, check.webhooks_are_signed]
}

run "unsigned_webhooks_on_a_protected_environment_when_confirmed" {
  command = plan
  variables {
    environment_suffix      = "prod"
    signature_mode          = "off"
    allow_unsigned_webhooks = true
  }
  expect_failures = [check.webhooks_are_signed]
}

run "unsigned_webhooks_on_dev_are_a_warning_only" {
  command = plan
  variables { signature_mode = "report" }
  expect_failures = [check.webhooks_are_signed]
}

run "tolerance_beyond_an_hour" {
  command = plan
  variables { signature_tolerance_seconds = 3601 }
  expect_failures = [var.signature_tolerance_seconds]
}

run "a_sweeper_schedule_that_is_not_one" {
  command = plan
  variables { sweeper_schedule_expression = "every minute" }
  expect_failures = [var.sweeper_schedule_expression]
}

run "a_secret_cache_of_zero_seconds" {
  command = plan
  variables { signing_secret_cache_seconds = 0 }
  expect_failures = [var.signing_secret_cache_seconds]
}

run "a_de_duplication_window_of_zero_days" {
  command = plan
  variables { dedup_ttl_days = 0 }
  expect_failures = [var.dedup_ttl_days]
}

run "a_de_duplication_window_of_more_than_a_year" {
  command = plan
  variables { dedup_ttl_days = 366 }
  expect_failures = [var.dedup_ttl_days]
}

run "a_source_that_is_not_one" {
  command = plan
  variables {
    webhook_sources = { paypal = {} }
  }
  expect_failures = [var.webhook_sources]
}

run "a_source_type_mapped_to_no_queue" {
  command = plan
  variables {
    webhook_sources = { stripe = { types = { "charge.succeeded" = "payments" } } }
  }
  expect_failures = [var.webhook_sources]
}

run "archive_retention_of_zero_days" {
  command = plan
  variables { archive_retention_days = 0 }
  expect_failures = [var.archive_retention_days]
}

run "archive_moved_to_a_class_that_must_be_restored" {
  command = plan
  variables { archive_transition_storage_class = "DEEP_ARCHIVE" }
  expect_failures = [var.archive_transition_storage_class]
}

run "archive_moved_before_thirty_days" {
  command = plan
  variables { archive_transition_days = 7 }
  expect_failures = [var.archive_transition_days]
}

run "archive_lock_mode_unknown" {
  command = plan
  variables { archive_lock_mode = "LEGAL_HOLD" }
  expect_failures = [var.archive_lock_mode]
}
