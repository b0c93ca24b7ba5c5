terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0, < 6.0.0"
    }
  }

  # State in S3 with locking; give the rest at init:
  #   terraform init -backend-config=bucket=... -backend-config=key=strata/terraform.tfstate \
  #     -backend-config=region=... -backend-config=dynamodb_table=...
  backend "s3" {
    encrypt = true
  }
}
