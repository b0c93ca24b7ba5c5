# Naming and tagging

variable "name" {
  description = "Name of the cluster: the prefix of every resource's name and the value of the strata:cluster tag. Lower-case letters, digits and dashes, starting with a letter, at most 20 characters (load balancer names are limited to 32)."
  type        = string
  default     = "strata"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name)) && !endswith(var.name, "-")
    error_message = "The name must be 1 to 20 lower-case letters, digits or dashes, start with a letter and not end with a dash."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags, after the module's own (strata:cluster, managed-by)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")])
    error_message = "Tag keys must be 1 to 128 characters and not start with aws:, values at most 256 characters."
  }
}

# Network

variable "vpc_id" {
  description = "ID of the VPC the brokers, etcd and the load balancer go into."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "The vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "broker_subnet_ids" {
  description = "Subnets of the brokers' auto-scaling group, one per availability zone (at least two zones). Private subnets with a route to S3 (a NAT gateway or an S3 gateway endpoint)."
  type        = list(string)

  validation {
    condition     = length(var.broker_subnet_ids) >= 2 && alltrue([for s in var.broker_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Give at least two subnet IDs (subnet-...), in different availability zones."
  }
}

variable "etcd_subnet_ids" {
  description = "Subnets of the three etcd members, in order: member i goes into subnet i. Three subnets in three availability zones survive the loss of a zone; a subnet may be repeated where a region has fewer zones."
  type        = list(string)

  validation {
    condition     = length(var.etcd_subnet_ids) == 3 && alltrue([for s in var.etcd_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Give exactly three subnet IDs (subnet-...), one per etcd member."
  }
}

variable "etcd_private_ips" {
  description = "Fixed private IPv4 addresses of the three etcd members, in the order of etcd_subnet_ids. Empty picks host number etcd_host_number + i of subnet i's CIDR block."
  type        = list(string)
  default     = []

  validation {
    condition     = (length(var.etcd_private_ips) == 0 || length(var.etcd_private_ips) == 3) && alltrue([for ip in var.etcd_private_ips : can(cidrhost("${ip}/32", 0))])
    error_message = "Give either no address or exactly three IPv4 addresses."
  }
}

variable "etcd_host_number" {
  description = "When etcd_private_ips is empty, member i gets host number etcd_host_number + i in its subnet (cidrhost). AWS reserves the first four addresses of a subnet."
  type        = number
  default     = 10

  validation {
    condition     = var.etcd_host_number >= 4 && var.etcd_host_number <= 250 && floor(var.etcd_host_number) == var.etcd_host_number
    error_message = "The etcd_host_number must be a whole number from 4 to 250."
  }
}

variable "nlb_subnet_ids" {
  description = "Subnets of the bootstrap network load balancer. Empty means broker_subnet_ids."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.nlb_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Every nlb_subnet_ids entry must be a subnet ID (subnet-...)."
  }
}

variable "nlb_internal" {
  description = "Whether the bootstrap load balancer is internal (reachable only inside the VPC and peered networks). Brokers advertise their private addresses, so clients must reach those anyway."
  type        = bool
  default     = true
}

variable "client_cidr_blocks" {
  description = "IPv4 CIDR blocks of the Kafka clients: they may connect to the load balancer and to every broker on kafka_port."
  type        = list(string)

  validation {
    condition     = length(var.client_cidr_blocks) >= 1 && alltrue([for c in var.client_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one IPv4 CIDR block; 0.0.0.0/0 is refused: Kafka has no authentication here."
  }
}

variable "metrics_cidr_blocks" {
  description = "IPv4 CIDR blocks allowed to reach http_port on the brokers (Prometheus /metrics, /healthz, /readyz, and /debug/pprof/, so keep it narrow). The load balancer's health checks are allowed regardless."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.metrics_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Every metrics_cidr_blocks entry must be an IPv4 CIDR block other than 0.0.0.0/0."
  }
}

variable "s3_gateway_endpoint_route_table_ids" {
  description = "Route tables of the broker subnets. When not empty, the module adds an S3 gateway VPC endpoint to them, so that object traffic stays off the NAT gateway."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.s3_gateway_endpoint_route_table_ids : can(regex("^rtb-[0-9a-f]{8,17}$", r))])
    error_message = "Every route table ID must look like rtb-0123456789abcdef0."
  }
}

# Object store

variable "bucket_name" {
  description = "Name of the S3 bucket for the segments. Null lets AWS pick a unique name starting with name and a dash. No dots: the brokers address the bucket virtual-host style over TLS."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "The bucket_name must be 3 to 63 lower-case letters, digits or dashes, starting and ending with a letter or digit."
  }
}

variable "bucket_force_destroy" {
  description = "Whether terraform destroy may delete the bucket with the cluster's data in it. Leave false outside of tests."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "ARN of a customer-managed KMS key for the bucket's default encryption (SSE-KMS, with an S3 bucket key). Null uses SSE-S3 (AES-256). The brokers' role is granted kms:Decrypt and kms:GenerateDataKey on this key, through S3 only."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.kms_key_arn))
    error_message = "The kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which the bucket's lifecycle rule aborts a multipart upload that was never completed (a broker that died mid-upload)."
  type        = number
  default     = 1

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "The abort_incomplete_multipart_upload_days must be a whole number of at least 1."
  }
}

# Machines

variable "architecture" {
  description = "CPU architecture of every instance: arm64 (Graviton) or x86_64. It picks the Amazon Linux 2023 image, the etcd download and the default instance types; the Strata binary must match it."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "The architecture must be arm64 or x86_64."
  }
}

variable "ami_id" {
  description = "AMI of every instance. Null takes the latest Amazon Linux 2023 image for the architecture, at the time of each plan (etcd members ignore later changes; brokers are replaced by an instance refresh). The image needs cloud-init, systemd, curl and sha256sum."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "The ami_id must look like ami-0123456789abcdef0."
  }
}

variable "ebs_kms_key_arn" {
  description = "ARN of a KMS key for the instances' EBS volumes. Null uses the account's default EBS key. Volumes are encrypted either way."
  type        = string
  default     = null

  validation {
    condition     = var.ebs_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.ebs_kms_key_arn))
    error_message = "The ebs_kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "enable_ssm" {
  description = "Whether to attach AmazonSSMManagedInstanceCore to the instances' roles, for shell access through Session Manager. No SSH port is ever opened."
  type        = bool
  default     = false
}

# Brokers

variable "strata_binary_url" {
  description = "HTTPS URL of the strata binary for the architecture (make build with GOARCH set; it is static), downloaded by each broker at boot and checked against strata_binary_sha256. Empty means the AMI already has /usr/local/bin/strata."
  type        = string
  default     = ""

  validation {
    condition     = var.strata_binary_url == "" || startswith(var.strata_binary_url, "https://")
    error_message = "The strata_binary_url must be empty or an https:// URL."
  }
}

variable "strata_binary_sha256" {
  description = "SHA-256 of the binary at strata_binary_url, 64 hex digits; required with it, so that a broker never runs a binary it was not meant to."
  type        = string
  default     = ""

  validation {
    condition     = var.strata_binary_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.strata_binary_sha256))
    error_message = "The strata_binary_sha256 must be 64 lower-case hex digits."
  }
}

variable "broker_count" {
  description = "Number of brokers: the auto-scaling group's minimum, maximum and desired size. Spread over broker_subnet_ids."
  type        = number
  default     = 3

  validation {
    condition     = var.broker_count >= 1 && var.broker_count <= 100 && floor(var.broker_count) == var.broker_count
    error_message = "The broker_count must be a whole number from 1 to 100."
  }
}

variable "broker_instance_type" {
  description = "Instance type of the brokers. Null means m7g.large on arm64 and m6i.large on x86_64."
  type        = string
  default     = null

  validation {
    condition     = var.broker_instance_type == null || can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.broker_instance_type))
    error_message = "The broker_instance_type must look like m7g.large."
  }
}

variable "broker_volume_size_gib" {
  description = "Size of each broker's root volume (gp3, encrypted) in GiB. It holds the WAL, which is emptied as segments are uploaded, and the on-disk range cache (disk_cache_bytes)."
  type        = number
  default     = 100

  validation {
    condition     = var.broker_volume_size_gib >= 20 && var.broker_volume_size_gib <= 16384
    error_message = "The broker_volume_size_gib must be from 20 to 16384."
  }
}

variable "broker_health_check_type" {
  description = "How the auto-scaling group judges a broker: ELB (the load balancer's check of /readyz; a broker not ready after the grace period is replaced) or EC2 (instance status checks only; systemd restarts a crashed process)."
  type        = string
  default     = "ELB"

  validation {
    condition     = contains(["ELB", "EC2"], var.broker_health_check_type)
    error_message = "The broker_health_check_type must be ELB or EC2."
  }
}

variable "broker_health_check_grace_period" {
  description = "Seconds after a broker's launch before its health counts: time to boot, download the binary and start."
  type        = number
  default     = 300

  validation {
    condition     = var.broker_health_check_grace_period >= 60 && var.broker_health_check_grace_period <= 7200
    error_message = "The broker_health_check_grace_period must be from 60 to 7200 seconds."
  }
}

variable "kafka_port" {
  description = "Port of the brokers' one Kafka listener and of the load balancer (strata serve --listeners=PROTOCOL://0.0.0.0:PORT, PROTOCOL being security_protocol). The security groups open it to client_cidr_blocks."
  type        = number
  default     = 9092

  validation {
    condition     = var.kafka_port >= 1024 && var.kafka_port <= 65535 && var.kafka_port != 2379 && var.kafka_port != 2380
    error_message = "The kafka_port must be from 1024 to 65535 and not an etcd port (2379, 2380)."
  }
}

variable "http_port" {
  description = "Port of the brokers' HTTP server (strata serve --http-listen): /metrics, /healthz, /readyz, and /debug/pprof/ with pprof."
  type        = number
  default     = 9644

  validation {
    condition     = var.http_port >= 1024 && var.http_port <= 65535 && var.http_port != 2379 && var.http_port != 2380
    error_message = "The http_port must be from 1024 to 65535 and not an etcd port (2379, 2380)."
  }
}

variable "session_ttl" {
  description = "The brokers' etcd lease TTL (strata serve --session-ttl), whole seconds such as 10s: a dead broker's partitions move after about this long."
  type        = string
  default     = "10s"

  validation {
    condition     = can(regex("^[1-9][0-9]*s$", var.session_ttl))
    error_message = "The session_ttl must be a whole number of seconds, such as 10s."
  }
}

variable "default_partitions" {
  description = "Partition count of auto-created topics (strata serve --default-partitions)."
  type        = number
  default     = 3

  validation {
    condition     = var.default_partitions >= 1 && floor(var.default_partitions) == var.default_partitions
    error_message = "The default_partitions must be a whole number of at least 1."
  }
}

variable "auto_create_topics" {
  description = "Whether Metadata and Produce create unknown topics (strata serve --auto-create-topics)."
  type        = bool
  default     = true
}

variable "cache_bytes" {
  description = "Memory for the cache of object ranges (strata serve --cache-bytes), with a binary unit such as 1GiB."
  type        = string
  default     = "1GiB"

  validation {
    condition     = can(regex("^[0-9]+(B|KiB|MiB|GiB|TiB)?$", var.cache_bytes))
    error_message = "The cache_bytes must be a number of bytes, optionally with B, KiB, MiB, GiB or TiB."
  }
}

variable "disk_cache_bytes" {
  description = "Disk for the on-disk range cache (strata serve --disk-cache-bytes), such as 20GiB; 0 turns it off. Must fit in broker_volume_size_gib with the WAL."
  type        = string
  default     = "20GiB"

  validation {
    condition     = can(regex("^[0-9]+(B|KiB|MiB|GiB|TiB)?$", var.disk_cache_bytes))
    error_message = "The disk_cache_bytes must be a number of bytes, optionally with B, KiB, MiB, GiB or TiB."
  }
}

variable "log_level" {
  description = "The brokers' log level (strata serve --log-level). Logs go to the journal, as JSON."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "The log_level must be debug, info, warn or error."
  }
}

variable "shutdown_timeout_seconds" {
  description = "How long systemd waits after SIGTERM for a broker to seal, upload and commit its WAL and resign its partitions before it kills it (TimeoutStopSec)."
  type        = number
  default     = 120

  validation {
    condition     = var.shutdown_timeout_seconds >= 10 && var.shutdown_timeout_seconds <= 3600
    error_message = "The shutdown_timeout_seconds must be from 10 to 3600."
  }
}

# Security (docs/security.md, docs/deploy.md#securing-the-aws-cluster). The
# module never sees a certificate, key or password: it takes the ARNs of
# Secrets Manager secrets or SSM SecureString parameters that hold them, and
# the brokers fetch them at each start (and hourly, for rotation) into
# memory-backed files readable by the strata group only.

variable "security_protocol" {
  description = "Security protocol of the brokers' Kafka listener on kafka_port: PLAINTEXT (no encryption, no authentication: only on a private network you trust), SSL (TLS) or SASL_SSL (TLS and SASL user names and passwords). SSL and SASL_SSL need tls_certificate_arn and tls_private_key_arn. SASL_PLAINTEXT is not offered: it would send passwords (PLAIN) in clear."
  type        = string
  default     = "PLAINTEXT"

  validation {
    condition     = contains(["PLAINTEXT", "SSL", "SASL_SSL"], var.security_protocol)
    error_message = "The security_protocol must be PLAINTEXT, SSL or SASL_SSL."
  }
}

variable "tls_certificate_arn" {
  description = "ARN of the Secrets Manager secret (its SecretString) or SSM SecureString parameter holding the brokers' PEM certificate chain (strata serve --tls-cert-file). It must name the load balancer's DNS name (or a name pointing at it) and every broker's advertised host: with advertise_private_dns_name, *.REGION.compute.internal (or the VPC's own domain); otherwise the brokers' private IP addresses."
  type        = string
  default     = null

  validation {
    condition     = var.tls_certificate_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/).+$", var.tls_certificate_arn))
    error_message = "The tls_certificate_arn must be the ARN of a Secrets Manager secret or an SSM parameter."
  }
}

variable "tls_private_key_arn" {
  description = "ARN of the Secrets Manager secret or SSM SecureString parameter holding the PEM private key of tls_certificate_arn (strata serve --tls-key-file)."
  type        = string
  default     = null

  validation {
    condition     = var.tls_private_key_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/).+$", var.tls_private_key_arn))
    error_message = "The tls_private_key_arn must be the ARN of a Secrets Manager secret or an SSM parameter."
  }
}

variable "tls_client_ca_arn" {
  description = "ARN of the Secrets Manager secret or SSM parameter holding the PEM CAs that client certificates must chain to (strata serve --tls-client-ca-file), for mutual TLS. Null: no client certificates."
  type        = string
  default     = null

  validation {
    condition     = var.tls_client_ca_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/).+$", var.tls_client_ca_arn))
    error_message = "The tls_client_ca_arn must be the ARN of a Secrets Manager secret or an SSM parameter."
  }
}

variable "tls_client_auth" {
  description = "Client certificates (strata serve --tls-client-auth): none, requested or required; empty leaves strata's default (required with tls_client_ca_arn, else none)."
  type        = string
  default     = ""

  validation {
    condition     = contains(["", "none", "requested", "required"], var.tls_client_auth)
    error_message = "The tls_client_auth must be empty, none, requested or required."
  }
}

variable "sasl_bootstrap_users_arn" {
  description = "ARN of the Secrets Manager secret or SSM SecureString parameter whose value is user:password lines (strata serve --sasl-bootstrap-users): at each start a broker gives each user that has none SCRAM credentials in etcd (it never changes existing ones, nor stores the passwords). Create the value outside Terraform so that no password is in the state. Needs security_protocol SASL_SSL."
  type        = string
  default     = null

  validation {
    condition     = var.sasl_bootstrap_users_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:|ssm:[a-z0-9-]+:[0-9]{12}:parameter/).+$", var.sasl_bootstrap_users_arn))
    error_message = "The sasl_bootstrap_users_arn must be the ARN of a Secrets Manager secret or an SSM parameter."
  }
}

variable "secrets_kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts those secrets or parameters, if not the AWS-managed one: the brokers' role gets kms:Decrypt on it through Secrets Manager and SSM only."
  type        = string
  default     = null

  validation {
    condition     = var.secrets_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.secrets_kms_key_arn))
    error_message = "The secrets_kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias."
  }
}

variable "sasl_enabled_mechanisms" {
  description = "SASL mechanisms of the SASL_SSL listener (strata serve --sasl-enabled-mechanisms). PLAIN sends the password to the broker (inside TLS); the SCRAM ones never do."
  type        = list(string)
  default     = ["SCRAM-SHA-256", "SCRAM-SHA-512"]

  validation {
    condition     = length(var.sasl_enabled_mechanisms) >= 1 && alltrue([for m in var.sasl_enabled_mechanisms : contains(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], m)])
    error_message = "The sasl_enabled_mechanisms must be one or more of PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512."
  }
}

variable "connections_max_reauth" {
  description = "How long a SASL authentication lasts before the client must authenticate again on its connection (strata serve --connections-max-reauth, Kafka's connections.max.reauth.ms), such as 1h; 0s = the connection's life."
  type        = string
  default     = "0s"

  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h)$", var.connections_max_reauth))
    error_message = "The connections_max_reauth must be a duration such as 0s, 30m or 1h."
  }
}

variable "authorizer" {
  description = "Whether the brokers check every request against the ACLs (strata serve --authorizer). Off, every client may do everything."
  type        = bool
  default     = false
}

variable "super_users" {
  description = "Principals the authorizer always allows (strata serve --super-users), such as [\"User:admin\"]: the users that create the first ACLs."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.super_users : can(regex("^[A-Za-z]+:[^;]+$", p))])
    error_message = "Each of super_users must be a principal such as User:admin, without a semicolon."
  }
}

variable "allow_everyone_if_no_acl_found" {
  description = "With the authorizer, whether a request on a resource that no ACL names is allowed (strata serve --allow-everyone-if-no-acl-found). Leave false: a new topic is then closed until ACLs open it."
  type        = bool
  default     = false
}

variable "advertise_private_dns_name" {
  description = "Whether each broker advertises its private DNS name (ip-10-0-1-23.REGION.compute.internal) instead of its private IP address, so that a TLS certificate with a wildcard name can match it."
  type        = bool
  default     = false
}

variable "http_tls" {
  description = "Whether the brokers serve http_port over TLS with the Kafka certificate (strata serve --http-tls); the load balancer then health-checks /readyz over HTTPS, and Prometheus must scrape with https."
  type        = bool
  default     = false
}

variable "pprof" {
  description = "Whether the brokers serve /debug/pprof/ on http_port (strata serve --pprof). Profiles reveal internals: metrics_cidr_blocks can reach that port."
  type        = bool
  default     = false
}

# etcd

variable "etcd_instance_type" {
  description = "Instance type of the etcd members. Null means m7g.medium on arm64 and m6i.large on x86_64; burstable types are a poor fit for etcd's latency."
  type        = string
  default     = null

  validation {
    condition     = var.etcd_instance_type == null || can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.etcd_instance_type))
    error_message = "The etcd_instance_type must look like m7g.medium."
  }
}

variable "etcd_volume_size_gib" {
  description = "Size of each etcd member's root volume (gp3, encrypted) in GiB; the data directory is on it."
  type        = number
  default     = 30

  validation {
    condition     = var.etcd_volume_size_gib >= 10 && var.etcd_volume_size_gib <= 16384
    error_message = "The etcd_volume_size_gib must be from 10 to 16384."
  }
}

variable "etcd_volume_iops" {
  description = "Provisioned IOPS of each etcd member's gp3 volume (3000 is gp3's baseline). etcd fsyncs every write."
  type        = number
  default     = 3000

  validation {
    condition     = var.etcd_volume_iops >= 3000 && var.etcd_volume_iops <= 16000
    error_message = "The etcd_volume_iops must be from 3000 to 16000."
  }
}

variable "etcd_version" {
  description = "etcd release the members download (the version Strata is tested against by default)."
  type        = string
  default     = "3.6.5"

  validation {
    condition     = can(regex("^3\\.[5-9]\\.[0-9]+$", var.etcd_version))
    error_message = "The etcd_version must be a 3.5 or later release such as 3.6.5, without a v."
  }
}

variable "etcd_sha256" {
  description = "SHA-256 of the etcd release archive per architecture (amd64, arm64), as published in the release's SHA256SUMS. Change it with etcd_version."
  type        = map(string)
  default = {
    amd64 = "66bad39ed920f6fc15fd74adcb8bfd38ba9a6412f8c7852d09eb11670e88cac3"
    arm64 = "7010161787077b07de29b15b76825ceacbbcedcb77fe2e6832f509be102cab6b"
  }

  validation {
    condition     = alltrue([for a in ["amd64", "arm64"] : can(regex("^[0-9a-f]{64}$", lookup(var.etcd_sha256, a, "")))])
    error_message = "The etcd_sha256 must have amd64 and arm64 entries of 64 lower-case hex digits."
  }
}

variable "etcd_download_url" {
  description = "Where the etcd release archives are: the archive is fetched from <etcd_download_url>/v<version>/etcd-v<version>-linux-<arch>.tar.gz. Point it at a mirror for subnets without internet access."
  type        = string
  default     = "https://github.com/etcd-io/etcd/releases/download"

  validation {
    condition     = startswith(var.etcd_download_url, "https://") && !endswith(var.etcd_download_url, "/")
    error_message = "The etcd_download_url must be an https:// URL without a trailing slash."
  }
}

variable "etcd_auto_compaction_retention" {
  description = "How much history etcd keeps (--auto-compaction-retention with periodic mode). Brokers rewrite their keys often; a short retention keeps the database small."
  type        = string
  default     = "5m"

  validation {
    condition     = can(regex("^[0-9]+(m|h)$", var.etcd_auto_compaction_retention))
    error_message = "The etcd_auto_compaction_retention must be minutes or hours, such as 5m or 1h."
  }
}

variable "etcd_quota_backend_gib" {
  description = "etcd's database size limit (--quota-backend-bytes) in GiB. Past it etcd refuses writes until it is compacted and defragmented."
  type        = number
  default     = 8

  validation {
    condition     = var.etcd_quota_backend_gib >= 2 && var.etcd_quota_backend_gib <= 8
    error_message = "The etcd_quota_backend_gib must be from 2 to 8 (etcd's suggested maximum)."
  }
}

variable "etcd_initial_cluster_state" {
  description = "The --initial-cluster-state of a member when its instance is created: new when the cluster is first created; existing when a member is replaced after etcdctl member add (instances that exist already ignore the change)."
  type        = string
  default     = "new"

  validation {
    condition     = contains(["new", "existing"], var.etcd_initial_cluster_state)
    error_message = "The etcd_initial_cluster_state must be new or existing."
  }
}

variable "etcd_termination_protection" {
  description = "Whether the etcd instances have termination protection. Replacing a member is a runbook (member remove, member add), not a terraform apply."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Whether the load balancer has deletion protection."
  type        = bool
  default     = false
}
