# A Strata cluster on AWS: an S3 bucket, three etcd members at fixed private
# addresses, and brokers in an auto-scaling group behind a network load
# balancer that clients bootstrap from. The files of this module:
#
#   s3.tf       the bucket: encryption, no public access, TLS only, lifecycle
#   iam.tf      the brokers' role: the bucket's objects and nothing else
#   network.tf  security groups and the optional S3 gateway endpoint
#   etcd.tf     three etcd instances, cloud-init from templates/etcd.yaml.tftpl
#   brokers.tf  launch template and auto-scaling group, templates/broker.yaml.tftpl
#   nlb.tf      the bootstrap load balancer, health-checking /readyz

data "aws_region" "current" {}

data "aws_partition" "current" {}

# The latest Amazon Linux 2023 image, unless var.ami_id is given.
data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

# The etcd subnets' CIDR blocks, to place the members when no addresses are given.
data "aws_subnet" "etcd" {
  count = length(var.etcd_private_ips) == 0 ? length(var.etcd_subnet_ids) : 0
  id    = var.etcd_subnet_ids[count.index]
}

locals {
  tags = merge({
    "strata:cluster" = var.name
    "managed-by"     = "terraform"
  }, var.tags)

  region     = data.aws_region.current.name
  dns_suffix = data.aws_partition.current.dns_suffix

  ami_id   = coalesce(var.ami_id, one(data.aws_ssm_parameter.al2023[*].insecure_value))
  is_arm64 = var.architecture == "arm64"

  broker_instance_type = coalesce(var.broker_instance_type, local.is_arm64 ? "m7g.large" : "m6i.large")
  etcd_instance_type   = coalesce(var.etcd_instance_type, local.is_arm64 ? "m7g.medium" : "m6i.large")

  # etcd: member i is "<name>-etcd-<i>" at a fixed address, so that the
  # static --initial-cluster and the brokers' --etcd-endpoints never change.
  etcd_ips = length(var.etcd_private_ips) > 0 ? var.etcd_private_ips : [
    for i, s in data.aws_subnet.etcd : cidrhost(s.cidr_block, var.etcd_host_number + i)
  ]
  etcd_names      = [for i in range(3) : "${var.name}-etcd-${i}"]
  etcd_endpoints  = join(",", [for ip in local.etcd_ips : "http://${ip}:2379"])
  initial_cluster = join(",", [for i, ip in local.etcd_ips : "${local.etcd_names[i]}=http://${ip}:2380"])
  etcd_arch       = local.is_arm64 ? "arm64" : "amd64"

  # The brokers reach the regional S3 endpoint over TLS; credentials come
  # from the instance role (objectstore's credential chain ends with IAM).
  object_store_url = "s3://${aws_s3_bucket.this.id}?endpoint=s3.${local.region}.${local.dns_suffix}&region=${local.region}"

  nlb_subnet_ids = length(var.nlb_subnet_ids) > 0 ? var.nlb_subnet_ids : var.broker_subnet_ids
}
