# A bucket and a service account for Strata on a MinIO you run, such as the
# single machine of docs/deploy.md.

provider "minio" {
  minio_server   = var.minio_server
  minio_user     = var.minio_user
  minio_password = var.minio_password
  minio_ssl      = var.minio_ssl
}

module "strata_bucket" {
  source = "../../modules/minio"

  bucket_name = "strata"
  user_name   = "strata"
  endpoint    = var.minio_server
  insecure    = !var.minio_ssl
}
