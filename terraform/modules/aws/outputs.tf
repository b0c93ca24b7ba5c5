output "bootstrap_servers" {
  description = "Kafka bootstrap address of the cluster (the load balancer), host:port, for bootstrap.servers."
  value       = "${aws_lb.bootstrap.dns_name}:${var.kafka_port}"
}

output "security_protocol" {
  description = "The clients' security.protocol for bootstrap_servers (PLAINTEXT, SSL or SASL_SSL)."
  value       = var.security_protocol
}

output "bucket_name" {
  description = "Name of the S3 bucket holding the segment objects."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the S3 bucket holding the segment objects."
  value       = aws_s3_bucket.this.arn
}

output "object_store_url" {
  description = "The brokers' --object-store URL."
  value       = local.object_store_url
}

output "etcd_endpoints" {
  description = "The brokers' --etcd-endpoints: the three members' client URLs, comma-separated."
  value       = local.etcd_endpoints
}

output "etcd_private_ips" {
  description = "Private addresses of the etcd members, in member order."
  value       = local.etcd_ips
}

output "etcd_instance_ids" {
  description = "Instance IDs of the etcd members, in member order."
  value       = aws_instance.etcd[*].id
}

output "broker_autoscaling_group_name" {
  description = "Name of the brokers' auto-scaling group (for instance refreshes)."
  value       = aws_autoscaling_group.broker.name
}

output "broker_role_arn" {
  description = "ARN of the brokers' IAM role."
  value       = aws_iam_role.broker.arn
}

output "broker_security_group_id" {
  description = "Security group of the brokers."
  value       = aws_security_group.broker.id
}

output "etcd_security_group_id" {
  description = "Security group of the etcd members."
  value       = aws_security_group.etcd.id
}

output "load_balancer_arn" {
  description = "ARN of the bootstrap network load balancer."
  value       = aws_lb.bootstrap.arn
}

output "target_group_arn" {
  description = "ARN of the brokers' target group (health: /readyz)."
  value       = aws_lb_target_group.kafka.arn
}
