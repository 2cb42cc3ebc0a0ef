terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }
}

provider "aws" {
  region = var.aws_region
  # A state belongs to one account: credentials of another would plan a second stack there.
  allowed_account_ids = var.aws_account_id == null ? null : [var.aws_account_id]

  default_tags {
    tags = merge(var.tags, {
      Project     = "tapctl"
      Environment = var.environment_suffix
    })
  }
}
