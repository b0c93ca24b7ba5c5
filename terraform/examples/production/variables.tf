variable "region" {
  description = "AWS region of the cluster."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "The region must look like eu-west-1."
  }
}

variable "name" {
  description = "Name of the cluster, prefix of every resource's name."
  type        = string
  default     = "strata-prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "The name must be 1 to 20 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "The VPC, with private subnets in three availability zones and a NAT gateway."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "The vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  description = "Three private subnets, one per availability zone: brokers in all, etcd member i in subnet i."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) == 3 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Give exactly three subnet IDs (subnet-...)."
  }
}

variable "private_route_table_ids" {
  description = "Route tables of the private subnets, for the S3 gateway endpoint."
  type        = list(string)

  validation {
    condition     = length(var.private_route_table_ids) >= 1 && alltrue([for r in var.private_route_table_ids : can(regex("^rtb-[0-9a-f]{8,17}$", r))])
    error_message = "Give at least one route table ID (rtb-...)."
  }
}

variable "etcd_private_ips" {
  description = "Three free addresses, one in each private subnet, for the etcd members; reserve them (outside any DHCP-like use) before the first apply."
  type        = list(string)

  validation {
    condition     = length(var.etcd_private_ips) == 3 && alltrue([for ip in var.etcd_private_ips : can(cidrhost("${ip}/32", 0))])
    error_message = "Give exactly three IPv4 addresses."
  }
}

variable "client_cidr_blocks" {
  description = "CIDR blocks of the Kafka clients."
  type        = list(string)

  validation {
    condition     = length(var.client_cidr_blocks) >= 1 && alltrue([for c in var.client_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "Give at least one IPv4 CIDR block."
  }
}

variable "metrics_cidr_blocks" {
  description = "CIDR blocks of the Prometheus servers that scrape the brokers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.metrics_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "Every entry must be an IPv4 CIDR block."
  }
}

variable "strata_binary_url" {
  description = "HTTPS URL of the linux/arm64 strata release binary."
  type        = string

  validation {
    condition     = startswith(var.strata_binary_url, "https://")
    error_message = "The strata_binary_url must be an https:// URL."
  }
}

variable "strata_binary_sha256" {
  description = "SHA-256 of that binary."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.strata_binary_sha256))
    error_message = "The strata_binary_sha256 must be 64 lower-case hex digits."
  }
}

variable "broker_count" {
  description = "Number of brokers."
  type        = number
  default     = 3

  validation {
    condition     = var.broker_count >= 2
    error_message = "A production cluster has at least two brokers."
  }
}

variable "tls_certificate_arn" {
  description = "Secrets Manager secret or SSM SecureString parameter with the brokers' PEM certificate chain. Its names must cover the load balancer's DNS name (or your alias of it) and *.REGION.compute.internal, the brokers' advertised names."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/).+$", var.tls_certificate_arn))
    error_message = "The tls_certificate_arn must be the ARN of a Secrets Manager secret or an SSM parameter."
  }
}

variable "tls_private_key_arn" {
  description = "Secrets Manager secret or SSM SecureString parameter with the certificate's PEM private key."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/).+$", var.tls_private_key_arn))
    error_message = "The tls_private_key_arn must be the ARN of a Secrets Manager secret or an SSM parameter."
  }
}

variable "sasl_bootstrap_users_arn" {
  description = "Secrets Manager secret or SSM SecureString parameter whose value is user:password lines, at least the super users' (admin:...): the first SCRAM users. Put the value there with the AWS CLI, not with Terraform, so that no password is in the state."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/).+$", var.sasl_bootstrap_users_arn))
    error_message = "The sasl_bootstrap_users_arn must be the ARN of a Secrets Manager secret or an SSM parameter."
  }
}

variable "secrets_kms_key_arn" {
  description = "Customer-managed KMS key of those secrets, if they do not use the AWS-managed key."
  type        = string
  default     = null

  validation {
    condition     = var.secrets_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.secrets_kms_key_arn))
    error_message = "The secrets_kms_key_arn must be a KMS key ARN, not an alias."
  }
}

variable "super_users" {
  description = "Principals the authorizer always allows: the administrators who create the ACLs and the other users."
  type        = list(string)
  default     = ["User:admin"]

  validation {
    condition     = length(var.super_users) >= 1 && alltrue([for p in var.super_users : can(regex("^User:[^;]+$", p))])
    error_message = "Give at least one principal such as User:admin, without a semicolon."
  }
}
