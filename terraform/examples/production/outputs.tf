output "bootstrap_servers" {
  description = "bootstrap.servers for the Kafka clients."
  value       = module.strata.bootstrap_servers
}

output "security_protocol" {
  description = "security.protocol for the Kafka clients (SASL_SSL), with sasl.mechanism SCRAM-SHA-512 or SCRAM-SHA-256."
  value       = module.strata.security_protocol
}

output "bucket_name" {
  description = "The cluster's S3 bucket."
  value       = module.strata.bucket_name
}

output "etcd_endpoints" {
  description = "The etcd members' client URLs (etcdctl --endpoints)."
  value       = module.strata.etcd_endpoints
}

output "etcd_instance_ids" {
  description = "The etcd members' instances, for Session Manager."
  value       = module.strata.etcd_instance_ids
}

output "broker_autoscaling_group_name" {
  description = "The brokers' auto-scaling group (aws autoscaling start-instance-refresh)."
  value       = module.strata.broker_autoscaling_group_name
}

output "kms_key_arn" {
  description = "The key encrypting the bucket."
  value       = aws_kms_key.strata.arn
}
