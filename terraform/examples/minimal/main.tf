# The smallest useful Strata cluster: three brokers and three etcd members
# in the region's default VPC, on small Graviton instances, with a bucket
# that terraform destroy removes with its data. For trying Strata out, not
# for keeping data: see ../production for that.
#
# Clients connect in PLAINTEXT: no TLS, no authentication, no ACLs. The
# security groups admit only the default VPC's own addresses, so keep it to
# a private network you trust, and keep production data off it
# (../production has SASL_SSL and the authorizer).

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project = "strata-demo"
    }
  }
}

data "aws_vpc" "default" {
  default = true
}

data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

locals {
  subnet_ids = sort(data.aws_subnets.default.ids)
}

module "strata" {
  source = "../../modules/aws"

  name               = "strata-demo"
  vpc_id             = data.aws_vpc.default.id
  broker_subnet_ids  = local.subnet_ids
  etcd_subnet_ids    = slice(local.subnet_ids, 0, 3)
  client_cidr_blocks = [data.aws_vpc.default.cidr_block]
  security_protocol  = "PLAINTEXT" # a private network only; see above

  architecture         = "arm64"
  strata_binary_url    = var.strata_binary_url
  strata_binary_sha256 = var.strata_binary_sha256
  broker_count         = 3
  broker_instance_type = "t4g.medium"
  etcd_instance_type   = "t4g.small"
  cache_bytes          = "512MiB"
  disk_cache_bytes     = "4GiB"

  bucket_force_destroy        = true
  etcd_termination_protection = false
  enable_ssm                  = true
}
