output "bucket_name" {
  description = "Name of the bucket holding the segment objects."
  value       = minio_s3_bucket.this.bucket
}

output "object_store_url" {
  description = "The brokers' --object-store URL."
  value       = "s3://${minio_s3_bucket.this.bucket}?endpoint=${var.endpoint}${var.insecure ? "&insecure=true" : ""}"
}

output "access_key" {
  description = "Access key of the brokers' service account: AWS_ACCESS_KEY_ID in the brokers' environment."
  value       = minio_iam_service_account.this.access_key
}

output "secret_key" {
  description = "Secret key of the brokers' service account: AWS_SECRET_ACCESS_KEY in the brokers' environment."
  value       = minio_iam_service_account.this.secret_key
  sensitive   = true
}

output "policy_name" {
  description = "Name of the MinIO policy attached to the user and the service account."
  value       = minio_iam_policy.this.id
}
