// Package terraform holds Strata's Terraform modules (modules/aws,
// modules/minio) and examples; it has no Go code of its own. Its test
// checks, without cloud access or provider plugins, what can be checked
// offline: terraform fmt and tflint, that every variable is typed, described
// and validated, that every reference and module argument names something
// declared, that every flag the brokers and etcd members are started with
// exists (by running strata serve and etcd with them), that the IAM and
// MinIO policies grant what the object store client does, on the module's
// bucket only (and the brokers' secrets at their ARNs), that the production
// example runs SASL_SSL with the authorizer, and that no secret is written
// in clear. docs/deploy.md says what only a terraform plan in an account
// verifies.
package terraform
