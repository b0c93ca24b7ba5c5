output "object_store_url" {
  description = "The brokers' --object-store."
  value       = module.strata_bucket.object_store_url
}

output "access_key" {
  description = "The brokers' AWS_ACCESS_KEY_ID."
  value       = module.strata_bucket.access_key
}

output "strata_env" {
  description = "An environment file for strata serve (systemd EnvironmentFile): terraform output -raw strata_env > /etc/strata/strata.env."
  sensitive   = true
  value       = <<-EOT
    STRATA_OBJECT_STORE=${module.strata_bucket.object_store_url}
    AWS_ACCESS_KEY_ID=${module.strata_bucket.access_key}
    AWS_SECRET_ACCESS_KEY=${module.strata_bucket.secret_key}
  EOT
}
