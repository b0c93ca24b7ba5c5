# The brokers' instance role. It may do what objectstore/s3.go does, on this
# module's bucket only (terraform_test.go derives the actions from that file
# and compares):
#
#   BucketExists, ListObjects     s3:ListBucket               on the bucket
#   GetObject (ranged), StatObject s3:GetObject               on its objects
#   PutObject (multipart too)     s3:PutObject, s3:AbortMultipartUpload
#   RemoveObject                  s3:DeleteObject
#
# MakeBucket (s3:CreateBucket) is not granted: the bucket exists before any
# broker starts. With a KMS key, kms:Decrypt and kms:GenerateDataKey on that
# key, through S3 only. With TLS or SASL, secretsmanager:GetSecretValue and
# ssm:GetParameter on the module's secret ARNs only (and kms:Decrypt on
# secrets_kms_key_arn through those two services).

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    sid     = "EC2AssumesTheRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.${local.dns_suffix}"]
    }
  }
}

resource "aws_iam_role" "broker" {
  name_prefix        = "${var.name}-broker-"
  description        = "Strata brokers of cluster ${var.name}: read and write the segment objects of bucket ${aws_s3_bucket.this.id}."
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

data "aws_iam_policy_document" "broker" {
  statement {
    sid       = "ListTheBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }

  statement {
    sid = "ReadWriteSegments"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = ["${aws_s3_bucket.this.arn}/*"]
  }
}

resource "aws_iam_role_policy" "broker" {
  name   = "strata-bucket"
  role   = aws_iam_role.broker.id
  policy = data.aws_iam_policy_document.broker.json
}

data "aws_iam_policy_document" "broker_kms" {
  count = var.kms_key_arn == null ? 0 : 1

  statement {
    sid       = "UseTheBucketKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.${local.dns_suffix}"]
    }
  }
}

resource "aws_iam_role_policy" "broker_kms" {
  count  = var.kms_key_arn == null ? 0 : 1
  name   = "strata-bucket-key"
  role   = aws_iam_role.broker.id
  policy = data.aws_iam_policy_document.broker_kms[0].json
}

data "aws_iam_policy_document" "broker_secrets" {
  count = length(local.secretsmanager_arns) > 0 ? 1 : 0

  statement {
    sid       = "ReadTheBrokerSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.secretsmanager_arns
  }
}

resource "aws_iam_role_policy" "broker_secrets" {
  count  = length(local.secretsmanager_arns) > 0 ? 1 : 0
  name   = "strata-secrets"
  role   = aws_iam_role.broker.id
  policy = data.aws_iam_policy_document.broker_secrets[0].json
}

data "aws_iam_policy_document" "broker_parameters" {
  count = length(local.ssm_parameter_arns) > 0 ? 1 : 0

  statement {
    sid       = "ReadTheBrokerParameters"
    actions   = ["ssm:GetParameter"]
    resources = local.ssm_parameter_arns
  }
}

resource "aws_iam_role_policy" "broker_parameters" {
  count  = length(local.ssm_parameter_arns) > 0 ? 1 : 0
  name   = "strata-parameters"
  role   = aws_iam_role.broker.id
  policy = data.aws_iam_policy_document.broker_parameters[0].json
}

data "aws_iam_policy_document" "broker_secrets_kms" {
  count = var.secrets_kms_key_arn == null || length(local.broker_secrets) == 0 ? 0 : 1

  statement {
    sid       = "DecryptTheSecretsThroughTheirService"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.${local.dns_suffix}", "ssm.${local.region}.${local.dns_suffix}"]
    }
  }
}

resource "aws_iam_role_policy" "broker_secrets_kms" {
  count  = var.secrets_kms_key_arn == null || length(local.broker_secrets) == 0 ? 0 : 1
  name   = "strata-secrets-key"
  role   = aws_iam_role.broker.id
  policy = data.aws_iam_policy_document.broker_secrets_kms[0].json
}

resource "aws_iam_instance_profile" "broker" {
  name_prefix = "${var.name}-broker-"
  role        = aws_iam_role.broker.name
  tags        = local.tags
}

resource "aws_iam_role_policy_attachment" "broker_ssm" {
  count      = var.enable_ssm ? 1 : 0
  role       = aws_iam_role.broker.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

# etcd members need no AWS permission; they get a role only for Session Manager.
resource "aws_iam_role" "etcd" {
  count              = var.enable_ssm ? 1 : 0
  name_prefix        = "${var.name}-etcd-"
  description        = "etcd members of Strata cluster ${var.name}: Session Manager only."
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "etcd_ssm" {
  count      = var.enable_ssm ? 1 : 0
  role       = aws_iam_role.etcd[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "etcd" {
  count       = var.enable_ssm ? 1 : 0
  name_prefix = "${var.name}-etcd-"
  role        = aws_iam_role.etcd[0].name
  tags        = local.tags
}
