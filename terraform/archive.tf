# The evidence archive: every accepted request, byte-exact with its headers and verdict, write-once
# (handlers/archive.py owns the key layout; terraform/README.md "Evidence archive" gives the choices and
# their costs).
#
# Object Lock protects each version for its retention: COMPLIANCE on a protected environment (nobody, the
# account root included, can delete a version or shorten its retention before it ends, and the bucket
# cannot be destroyed while it holds one), GOVERNANCE with a short retention on a throwaway one (so a
# destroy, with force_destroy, removes it; GOVERNANCE bypass needs s3:BypassGovernanceRetention, which
# nothing in this module grants). archive_lock_mode overrides the choice.

locals {
  archive = {
    mode           = coalesce(var.archive_lock_mode, local.protected ? "COMPLIANCE" : "GOVERNANCE")
    retention_days = local.protected ? var.archive_retention_days : var.archive_throwaway_retention_days
    key_arn        = coalesce(var.archive_kms_key_arn, one(aws_kms_key.archive[*].arn))
    # What the router may write (handlers/archive.py EVENTS_PREFIX and RECEIVED_PREFIX; tests/terraform
    # checks they agree): PutObject under these prefixes, nothing else, and no one in the module deletes.
    prefixes = ["events/", "received/"]
  }
}

resource "aws_kms_key" "archive" {
  count                   = var.archive_kms_key_arn == null ? 1 : 0
  description             = "Encrypts the webhook evidence archive (${local.env})."
  enable_key_rotation     = true
  deletion_window_in_days = local.protected ? 30 : 7

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # In a key policy "*" means this key; the account root keeps administration of it, and IAM policies
      # (the router's GenerateDataKey, an auditor's Decrypt) grant its use.
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_alias" "archive" {
  count         = var.archive_kms_key_arn == null ? 1 : 0
  name          = local.names.archive_key
  target_key_id = aws_kms_key.archive[0].key_id
}

resource "aws_s3_bucket" "archive" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket per environment; every write is the router's (its log line names the object and version), and CloudTrail data events are the account's audit trail of reads.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a choice of the account (a replica bucket and role in another region); Object Lock already makes each version immutable in this one.
  #checkov:skip=CKV2_AWS_62:Nothing consumes the archive's writes as events; the router already logs each one.
  bucket              = local.names.archive
  object_lock_enabled = true
  # A GOVERNANCE archive (a throwaway environment's) goes with it: the destroy bypasses its locks. A
  # COMPLIANCE one (a protected environment's) is never force-destroyed, and its locks refuse it anyway.
  force_destroy = local.archive.mode == "GOVERNANCE"
}

resource "aws_s3_bucket_versioning" "archive" {
  bucket = aws_s3_bucket.archive.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id
  rule {
    default_retention {
      mode = local.archive.mode
      days = local.archive.retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.archive]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.archive.key_arn
    }
    bucket_key_enabled = true # one KMS request per object would cost more than the object's storage
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  bucket                  = aws_s3_bucket.archive.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  bucket = aws_s3_bucket.archive.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_policy" "archive" {
  bucket = aws_s3_bucket.archive.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TlsOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.archive]
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id
  # S3's default since 2024, said here: an object under 128 KB (most requests' evidence) stays in its class,
  # where it costs less than the colder class's 128 KB minimum would.
  transition_default_minimum_object_size = "all_storage_classes_128K"

  rule {
    id     = "colder-then-expire"
    status = "Enabled"
    filter {}

    transition {
      days          = var.archive_transition_days
      storage_class = var.archive_transition_storage_class
    }
    # Lifecycle never removes a version before its lock ends; after it, what the retention kept goes.
    expiration {
      days = local.archive.retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = local.archive.retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.archive]
}
