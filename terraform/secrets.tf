# The environment's webhook signing secret. Terraform creates the secret but never a value: the value
# (tapctl secret rotate) never enters the state or a plan. Its format is a contract (README, "Signed
# webhooks"): {"secrets": [{"secret": "whsec_...", "expires_at": null | <epoch seconds>}, ...]}.

resource "aws_secretsmanager_secret" "signing" {
  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed Secrets Manager key; access is limited by IAM to the validator's role and the operators who rotate it.
  #checkov:skip=CKV2_AWS_57:Rotated by operators with tapctl secret rotate, which keeps the previous key for a grace period while senders switch; an automatic rotation would break every sender.
  name        = local.names.signing_secret
  description = "Standard Webhooks signing secrets of POST /webhook (${local.env}); set by tapctl secret rotate."
  # A throwaway environment's name must be reusable at once after a destroy; a protected one keeps
  # its secret recoverable for the longest window Secrets Manager offers.
  recovery_window_in_days = local.protected ? 30 : 0

  lifecycle {
    precondition {
      condition     = var.signature_mode != "off" || !local.protected || var.allow_unsigned_webhooks
      error_message = "signature_mode = \"off\" on the protected environment ${local.env} accepts events from anyone who knows its URL: set allow_unsigned_webhooks = true to confirm that this is meant, or use \"report\" while senders migrate."
    }
  }
}

check "webhooks_are_signed" {
  assert {
    condition     = var.signature_mode == "required"
    error_message = "signature_mode is \"${var.signature_mode}\": POST /webhook accepts events without a valid signature (${var.signature_mode == "report" ? "signatures are verified and logged only, while senders migrate" : "nothing is verified"})."
  }
}
