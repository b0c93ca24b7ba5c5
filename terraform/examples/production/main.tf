# A production-like Strata cluster in an existing VPC: brokers and etcd in
# private subnets over three availability zones, a customer-managed KMS key
# for the bucket, S3 through a gateway endpoint, topics
# created on purpose only, Session Manager instead of SSH, and protection
# against deleting etcd members and the load balancer by accident. Clients
# connect over SASL_SSL (TLS, SCRAM user names and passwords) and every
# request is checked against the ACLs; the certificate, its key and the
# first users' passwords stay in Secrets Manager or SSM, out of this
# configuration and its state (docs/deploy.md#securing-the-aws-cluster).

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "strata"
      environment = "production"
    }
  }
}

resource "aws_kms_key" "strata" {
  description             = "Strata ${var.name}: segment objects"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "strata" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.strata.key_id
}

module "strata" {
  source = "../../modules/aws"

  name                                = var.name
  vpc_id                              = var.vpc_id
  broker_subnet_ids                   = var.private_subnet_ids
  etcd_subnet_ids                     = var.private_subnet_ids
  etcd_private_ips                    = var.etcd_private_ips
  s3_gateway_endpoint_route_table_ids = var.private_route_table_ids
  client_cidr_blocks                  = var.client_cidr_blocks
  metrics_cidr_blocks                 = var.metrics_cidr_blocks

  # The bucket with the customer-managed key. The volumes keep the account's
  # default EBS key: a customer-managed one would also need a key policy
  # for the Auto Scaling service-linked role.
  kms_key_arn = aws_kms_key.strata.arn

  architecture         = "arm64"
  strata_binary_url    = var.strata_binary_url
  strata_binary_sha256 = var.strata_binary_sha256
  broker_count         = var.broker_count
  broker_instance_type = "m7g.xlarge"
  etcd_instance_type   = "m7g.large"
  etcd_volume_iops     = 6000

  auto_create_topics = false
  default_partitions = 6
  cache_bytes        = "4GiB"
  disk_cache_bytes   = "60GiB"

  # Security: TLS and SCRAM on the client listener, ACLs on, nothing
  # allowed that no ACL allows. super_users create the first ACLs.
  kafka_port                 = 9093
  security_protocol          = "SASL_SSL"
  tls_certificate_arn        = var.tls_certificate_arn
  tls_private_key_arn        = var.tls_private_key_arn
  sasl_bootstrap_users_arn   = var.sasl_bootstrap_users_arn
  secrets_kms_key_arn        = var.secrets_kms_key_arn
  sasl_enabled_mechanisms    = ["SCRAM-SHA-512", "SCRAM-SHA-256"]
  authorizer                 = true
  super_users                = var.super_users
  advertise_private_dns_name = true

  enable_ssm                  = true
  etcd_termination_protection = true
  deletion_protection         = true
}
