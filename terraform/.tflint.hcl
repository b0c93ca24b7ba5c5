# tflint for Strata's modules and examples. Only the bundled terraform
# ruleset is used: the AWS ruleset is a plugin that tflint --init would
# download, which the project's checks never do.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
