# Three etcd members at fixed private addresses. Each is a plain instance,
# not an auto-scaling group: a replacement would come up with an empty data
# directory under the same name, which a static cluster refuses. EC2's
# automatic recovery keeps a member's instance ID, address and volume across
# hardware failures; anything worse is the runbook in docs/deploy.md
# (etcdctl member remove and member add, then terraform apply -replace with
# etcd_initial_cluster_state = "existing").

resource "aws_launch_template" "etcd" {
  name_prefix            = "${var.name}-etcd-"
  description            = "etcd members of Strata cluster ${var.name}"
  image_id               = local.ami_id
  instance_type          = local.etcd_instance_type
  vpc_security_group_ids = [aws_security_group.etcd.id]
  update_default_version = true

  dynamic "iam_instance_profile" {
    for_each = aws_iam_instance_profile.etcd
    content {
      arn = iam_instance_profile.value.arn
    }
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
      volume_size           = var.etcd_volume_size_gib
      iops                  = var.etcd_volume_iops
      encrypted             = true
      kms_key_id            = var.ebs_kms_key_arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${var.name}-etcd" })
  }

  tags = local.tags
}

resource "aws_instance" "etcd" {
  count = 3

  launch_template {
    id      = aws_launch_template.etcd.id
    version = aws_launch_template.etcd.latest_version
  }

  subnet_id               = var.etcd_subnet_ids[count.index]
  private_ip              = local.etcd_ips[count.index]
  vpc_security_group_ids  = [aws_security_group.etcd.id]
  disable_api_termination = var.etcd_termination_protection

  user_data = templatefile("${path.module}/templates/etcd.yaml.tftpl", {
    cluster                   = var.name
    name                      = local.etcd_names[count.index]
    ip                        = local.etcd_ips[count.index]
    initial_cluster           = local.initial_cluster
    initial_cluster_state     = var.etcd_initial_cluster_state
    auto_compaction_retention = var.etcd_auto_compaction_retention
    quota_backend_bytes       = var.etcd_quota_backend_gib * 1073741824
    version                   = var.etcd_version
    arch                      = local.etcd_arch
    sha256                    = var.etcd_sha256[local.etcd_arch]
    download_url              = var.etcd_download_url
  })

  maintenance_options {
    auto_recovery = "default"
  }

  tags = merge(local.tags, { Name = local.etcd_names[count.index] })

  lifecycle {
    # A new AMI or launch template must not replace a member: its data
    # would go with it. Roll members one at a time by hand instead.
    ignore_changes = [ami, user_data, launch_template]
  }
}
