# The de-duplication table: one item per accepted event_id, deleted by TTL after 30 days.

resource "aws_dynamodb_table" "this" {
  name                        = local.names.table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "event_id"
  deletion_protection_enabled = local.deletion_protection

  attribute {
    name = "event_id"
    type = "S"
  }

  ttl {
    attribute_name = local.dedup_ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.enable_point_in_time_recovery
  }

  server_side_encryption {
    #checkov:skip=CKV_AWS_119:Encrypted with the AWS-managed DynamoDB key; a customer-managed key adds cost and key administration without a requirement for it.
    enabled = true
  }
}
