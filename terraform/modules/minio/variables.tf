variable "bucket_name" {
  description = "Name of the bucket for Strata's segment objects, created on the MinIO the provider points at."
  type        = string
  default     = "strata"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "The bucket_name must be 3 to 63 lower-case letters, digits or dashes, starting and ending with a letter or digit."
  }
}

variable "user_name" {
  description = "Name of the MinIO user that owns the brokers' service account. The user gets the bucket policy and nothing else."
  type        = string
  default     = "strata"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.@=,+-]{3,64}$", var.user_name))
    error_message = "The user_name must be 3 to 64 letters, digits or _.@=,+- characters."
  }
}

variable "bucket_force_destroy" {
  description = "Whether terraform destroy may delete the bucket with the cluster's data in it. Leave false outside of tests."
  type        = bool
  default     = false
}

variable "kms_key_id" {
  description = "Name of a key of MinIO's KMS (KES) for the bucket's default encryption (SSE-KMS). Null leaves the bucket's encryption as the server's default; MinIO must have a KMS configured for a key to work."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_id == null || can(regex("^[A-Za-z0-9_.-]{1,255}$", var.kms_key_id))
    error_message = "The kms_key_id must be 1 to 255 letters, digits or _.- characters."
  }
}

variable "endpoint" {
  description = "host:port of the MinIO S3 API as the brokers reach it, for the object_store_url output (for example minio.internal:9000)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+:[0-9]{1,5}$", var.endpoint)) || can(regex("^\\[[0-9A-Fa-f:.]+\\]:[0-9]{1,5}$", var.endpoint))
    error_message = "The endpoint must be host:port without a scheme, such as minio.internal:9000 ([::1]:9000 for IPv6)."
  }
}

variable "insecure" {
  description = "Whether the brokers talk plain HTTP to MinIO (insecure=true in the object_store_url). Use TLS wherever the network is not trusted."
  type        = bool
  default     = false
}

variable "service_account_description" {
  description = "Description of the brokers' service account, shown in the MinIO console."
  type        = string
  default     = "Strata brokers"

  validation {
    condition     = length(var.service_account_description) <= 256
    error_message = "The service_account_description must be at most 256 bytes."
  }
}
