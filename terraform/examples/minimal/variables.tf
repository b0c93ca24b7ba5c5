variable "region" {
  description = "AWS region to deploy into. Its default VPC needs at least three default subnets (one per availability zone)."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "The region must look like eu-west-1."
  }
}

variable "strata_binary_url" {
  description = "HTTPS URL of a linux/arm64 strata binary (GOARCH=arm64 make build), which the brokers download at boot."
  type        = string

  validation {
    condition     = startswith(var.strata_binary_url, "https://")
    error_message = "The strata_binary_url must be an https:// URL."
  }
}

variable "strata_binary_sha256" {
  description = "SHA-256 of that binary (sha256sum bin/strata)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.strata_binary_sha256))
    error_message = "The strata_binary_sha256 must be 64 lower-case hex digits."
  }
}
