# A bucket and a least-privilege service account for Strata on an existing
# MinIO, for on-premises clusters. The brokers use the service account's
# keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); the policy allows what
# objectstore/s3.go does on this bucket only (terraform_test.go compares):
#
#   s3:ListBucket on the bucket, s3:GetObject, s3:PutObject,
#   s3:DeleteObject and s3:AbortMultipartUpload on its objects.
#
# MinIO aborts stale multipart uploads itself (the api stale_uploads_expiry
# setting, 24h by default), so the bucket needs no lifecycle rule for that,
# and objects are immutable, so no versioning.

locals {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListTheBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = ["arn:aws:s3:::${minio_s3_bucket.this.bucket}"]
      },
      {
        Sid      = "ReadWriteSegments"
        Effect   = "Allow"
        Action   = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
        Resource = ["arn:aws:s3:::${minio_s3_bucket.this.bucket}/*"]
      },
    ]
  })
}

resource "minio_s3_bucket" "this" {
  bucket        = var.bucket_name
  acl           = "private"
  force_destroy = var.bucket_force_destroy
}

resource "minio_s3_bucket_server_side_encryption" "this" {
  count           = var.kms_key_id == null ? 0 : 1
  bucket          = minio_s3_bucket.this.bucket
  encryption_type = "aws:kms"
  kms_key_id      = var.kms_key_id
}

resource "minio_iam_policy" "this" {
  name   = "strata-${var.bucket_name}"
  policy = local.policy
}

resource "minio_iam_user" "this" {
  name = var.user_name
}

resource "minio_iam_user_policy_attachment" "this" {
  user_name   = minio_iam_user.this.id
  policy_name = minio_iam_policy.this.id
}

# The service account carries the same policy, so its keys can do no more
# than the bucket policy even if the user is later given more.
resource "minio_iam_service_account" "this" {
  target_user = minio_iam_user.this.name
  description = var.service_account_description
  policy      = local.policy

  depends_on = [minio_iam_user_policy_attachment.this]
}
