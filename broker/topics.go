package broker

import "regexp"

// legalTopicName is Kafka's rule for topic names.
var legalTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validTopicName reports why name is not a legal Kafka topic name ("" if legal).
func validTopicName(name string) string {
	switch {
	case name == "":
		return "topic name is empty"
	case name == "." || name == "..":
		return "topic name cannot be '.' or '..'"
	case len(name) > 249:
		return "topic name is longer than 249 characters"
	case !legalTopicName.MatchString(name):
		return "topic name " + name + " contains characters other than ASCII alphanumerics, '.', '_' and '-'"
	}
	return ""
}
