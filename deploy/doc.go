// Package deploy holds Strata's deployment files other than Terraform: the
// Kubernetes manifests (kubernetes/), systemd units for a single machine
// (systemd/), and, at the repository's root, the Dockerfile. It has no Go
// code of its own. Its test checks them offline against each other and
// against the real programs: every strata serve flag and STRATA_* variable
// is parsed by strata's own flag set, every etcd flag by the etcd that
// go.mod pins, the probe and scrape paths are answered by a running broker
// and etcd, and ports, user, data directory, images and labels agree
// between the Dockerfile, the StatefulSets, their Services and budgets.
// security_test.go checks that the brokers run SASL_SSL with the
// authorizer, that their secrets are mounted read-only with restrictive
// modes and never written in the manifests, and starts a broker with each
// deployment's security settings to log in with SCRAM over TLS.
// Docker and a Kubernetes cluster are not needed.
package deploy
