# Brokers in one auto-scaling group over the broker subnets. A broker keeps
# nothing another broker needs (its WAL is uploaded to the bucket within
# --seal-interval), so instances are cattle: a replacement gets a new broker
# id from etcd and its fair share of partitions from the controller.

locals {
  # The secrets a broker fetches into /run/strata/secrets (file name = ARN),
  # by the service that keeps them.
  broker_secrets = { for name, arn in {
    "tls.crt"         = var.tls_certificate_arn
    "tls.key"         = var.tls_private_key_arn
    "client-ca.crt"   = var.tls_client_ca_arn
    "bootstrap-users" = var.sasl_bootstrap_users_arn
  } : name => arn if arn != null }
  secretsmanager_arns = [for name, arn in local.broker_secrets : arn if can(regex("^arn:[^:]+:secretsmanager:", arn))]
  ssm_parameter_arns  = [for name, arn in local.broker_secrets : arn if can(regex("^arn:[^:]+:ssm:", arn))]

  # strata serve's security settings, written to /etc/strata/strata.env
  # (no secret in it: the secrets are files). Empty values are left out.
  broker_env = { for k, v in {
    STRATA_TLS_CERT_FILE                  = var.tls_certificate_arn == null ? "" : "/run/strata/secrets/tls.crt"
    STRATA_TLS_KEY_FILE                   = var.tls_private_key_arn == null ? "" : "/run/strata/secrets/tls.key"
    STRATA_TLS_CLIENT_CA_FILE             = var.tls_client_ca_arn == null ? "" : "/run/strata/secrets/client-ca.crt"
    STRATA_TLS_CLIENT_AUTH                = var.tls_client_auth
    STRATA_SASL_ENABLED_MECHANISMS        = var.security_protocol == "SASL_SSL" ? join(",", var.sasl_enabled_mechanisms) : ""
    STRATA_SASL_BOOTSTRAP_USERS           = var.sasl_bootstrap_users_arn == null ? "" : "/run/strata/secrets/bootstrap-users"
    STRATA_CONNECTIONS_MAX_REAUTH         = var.security_protocol == "SASL_SSL" ? var.connections_max_reauth : ""
    STRATA_AUTHORIZER                     = tostring(var.authorizer)
    STRATA_SUPER_USERS                    = join(";", var.super_users)
    STRATA_ALLOW_EVERYONE_IF_NO_ACL_FOUND = tostring(var.allow_everyone_if_no_acl_found)
    STRATA_HTTP_TLS                       = tostring(var.http_tls)
    STRATA_PPROF                          = tostring(var.pprof)
  } : k => v if v != "" }
}

resource "aws_launch_template" "broker" {
  name_prefix            = "${var.name}-broker-"
  description            = "Strata brokers of cluster ${var.name}"
  image_id               = local.ami_id
  instance_type          = local.broker_instance_type
  vpc_security_group_ids = [aws_security_group.broker.id]
  update_default_version = true

  user_data = base64encode(templatefile("${path.module}/templates/broker.yaml.tftpl", {
    cluster                  = var.name
    kafka_port               = var.kafka_port
    security_protocol        = var.security_protocol
    http_port                = var.http_port
    advertise_dns_name       = var.advertise_private_dns_name
    broker_env               = local.broker_env
    secrets                  = local.broker_secrets
    etcd_endpoints           = local.etcd_endpoints
    object_store_url         = local.object_store_url
    session_ttl              = var.session_ttl
    default_partitions       = var.default_partitions
    auto_create_topics       = var.auto_create_topics
    cache_bytes              = var.cache_bytes
    disk_cache_bytes         = var.disk_cache_bytes
    log_level                = var.log_level
    shutdown_timeout_seconds = var.shutdown_timeout_seconds
    strata_binary_url        = var.strata_binary_url
    strata_binary_sha256     = var.strata_binary_sha256
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.broker.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_type           = "gp3"
      volume_size           = var.broker_volume_size_gib
      encrypted             = true
      kms_key_id            = var.ebs_kms_key_arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${var.name}-broker" })
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = (var.strata_binary_url == "") == (var.strata_binary_sha256 == "")
      error_message = "Give strata_binary_url and strata_binary_sha256 together, or neither (the AMI then has /usr/local/bin/strata)."
    }
    precondition {
      condition     = (var.tls_certificate_arn == null) == (var.tls_private_key_arn == null)
      error_message = "Give tls_certificate_arn and tls_private_key_arn together, or neither."
    }
    precondition {
      condition     = var.security_protocol == "PLAINTEXT" || var.tls_certificate_arn != null
      error_message = "The security_protocol SSL and SASL_SSL need tls_certificate_arn and tls_private_key_arn."
    }
    precondition {
      condition     = !var.http_tls || var.tls_certificate_arn != null
      error_message = "The http_tls needs tls_certificate_arn and tls_private_key_arn."
    }
    precondition {
      condition     = var.sasl_bootstrap_users_arn == null || var.security_protocol == "SASL_SSL"
      error_message = "The sasl_bootstrap_users_arn needs security_protocol SASL_SSL."
    }
    precondition {
      condition     = !contains(["requested", "required"], var.tls_client_auth) || var.tls_client_ca_arn != null
      error_message = "The tls_client_auth requested or required needs tls_client_ca_arn."
    }
  }
}

resource "aws_autoscaling_group" "broker" {
  name_prefix               = "${var.name}-broker-"
  min_size                  = var.broker_count
  max_size                  = var.broker_count
  desired_capacity          = var.broker_count
  vpc_zone_identifier       = var.broker_subnet_ids
  target_group_arns         = [aws_lb_target_group.kafka.arn]
  health_check_type         = var.broker_health_check_type
  health_check_grace_period = var.broker_health_check_grace_period

  # Instances are taken out of the target group (deregistration_delay)
  # before they are terminated; the OS shutdown then stops strata.service
  # with SIGTERM, which hands the broker's partitions over.
  termination_policies = ["OldestLaunchTemplate", "Default"]

  launch_template {
    id      = aws_launch_template.broker.id
    version = aws_launch_template.broker.latest_version
  }

  # A new launch template version (AMI, flags, binary) rolls the brokers one
  # at a time: a replacement must pass the /readyz check before the next.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = var.broker_count > 1 ? floor(100 * (var.broker_count - 1) / var.broker_count) : 0
      instance_warmup        = 60
    }
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${var.name}-broker" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}
