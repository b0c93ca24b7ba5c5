output "bootstrap_servers" {
  description = "bootstrap.servers for Kafka clients inside the VPC."
  value       = module.strata.bootstrap_servers
}

output "bucket_name" {
  description = "The cluster's S3 bucket."
  value       = module.strata.bucket_name
}

output "etcd_endpoints" {
  description = "The etcd members' client URLs."
  value       = module.strata.etcd_endpoints
}

output "broker_autoscaling_group_name" {
  description = "The brokers' auto-scaling group, to list the instances: aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names NAME."
  value       = module.strata.broker_autoscaling_group_name
}
