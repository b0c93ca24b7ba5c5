variable "minio_server" {
  description = "host:port of the MinIO S3 API, as both Terraform and the brokers reach it."
  type        = string
  default     = "127.0.0.1:9000"

  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+:[0-9]{1,5}$", var.minio_server))
    error_message = "The minio_server must be host:port, such as 127.0.0.1:9000."
  }
}

variable "minio_user" {
  description = "MinIO administrator (MINIO_ROOT_USER or a user with the admin policy), used only by Terraform."
  type        = string

  validation {
    condition     = length(var.minio_user) >= 3
    error_message = "The minio_user must be at least 3 characters."
  }
}

variable "minio_password" {
  description = "Password of minio_user."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.minio_password) >= 8
    error_message = "The minio_password must be at least 8 characters."
  }
}

variable "minio_ssl" {
  description = "Whether MinIO serves TLS. False means plain HTTP for Terraform and the brokers."
  type        = bool
  default     = false
}
