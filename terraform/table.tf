# The de-duplication table: one item per accepted event_id, deleted by TTL after 30 days. Each item is
# also the event's outbox entry until the router confirms it (handlers/records.py): the sparse index
# "pending" holds only the items not yet routed, so the sweeper finds them without a scan.

resource "aws_dynamodb_table" "this" {
  name                        = local.names.table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "event_id"
  deletion_protection_enabled = local.deletion_protection

  attribute {
    name = "event_id"
    type = "S"
  }

  attribute {
    name = "pending_shard"
    type = "S"
  }

  attribute {
    name = "pending_due"
    type = "N"
  }

  global_secondary_index {
    name               = local.outbox.index
    hash_key           = "pending_shard"
    range_key          = "pending_due"
    projection_type    = "INCLUDE"
    non_key_attributes = ["message_body", "pending_attempts", "received_at"]
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
