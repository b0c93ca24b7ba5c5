package acl

import "github.com/twmb/franz-go/pkg/kmsg"

// Binding is one ACL, as CreateAcls creates it. Principal is "User:name" or
// "User:*"; Host is an IP address or "*".
type Binding struct {
	ResourceType kmsg.ACLResourceType        `json:"resourceType"`
	ResourceName string                      `json:"resourceName"`
	PatternType  kmsg.ACLResourcePatternType `json:"patternType"` // literal or prefixed
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"` // allow or deny
}

// Filter selects bindings, as DescribeAcls and DeleteAcls send it: ANY
// values and nil strings match everything; the pattern type MATCH matches
// the bindings that would apply to ResourceName (literal, the literal
// wildcard "*", and prefixes of it).
type Filter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}
