package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterName is the only name a CLUSTER resource has, as in Kafka.
const ClusterName = "kafka-cluster"

// Wildcards, as Kafka spells them: a literal resource named "*" applies to
// every resource of its type, the principal "User:*" to every principal,
// the host "*" to every host.
const (
	WildcardResource  = "*"
	WildcardPrincipal = "User:*"
	WildcardHost      = "*"
)

// Errors returned by Binding.Validate and Filter.Validate. Each is wrapped
// with the detail of what is wrong; the broker answers INVALID_REQUEST with
// the wrapped error's text.
var (
	ErrUnsupportedResourceType = errors.New("acl: unsupported resource type")
	ErrInvalidResourceType     = errors.New("acl: invalid resource type")
	ErrInvalidResourceName     = errors.New("acl: invalid resource name")
	ErrInvalidPatternType      = errors.New("acl: invalid pattern type")
	ErrInvalidPrincipal        = errors.New("acl: invalid principal")
	ErrInvalidHost             = errors.New("acl: invalid host")
	ErrInvalidOperation        = errors.New("acl: invalid operation")
	ErrInvalidPermission       = errors.New("acl: invalid permission type")
)

// validOps lists, per resource type, the concrete operations Kafka defines
// for it (AclEntry.supportedOperations), in operation-code order. ALL is
// valid in a binding as well but is not listed: it is not an operation a
// request performs and has no bit in KIP-430's authorized-operations field.
var validOps = map[kmsg.ACLResourceType][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {
		kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
	},
	kmsg.ACLResourceTypeGroup: {
		kmsg.ACLOperationRead, kmsg.ACLOperationDelete, kmsg.ACLOperationDescribe,
	},
	kmsg.ACLResourceTypeCluster: {
		kmsg.ACLOperationCreate, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
	},
	kmsg.ACLResourceTypeTransactionalId: {
		kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe,
	},
}

// Operations returns the concrete operations valid on resources of type rt,
// in operation-code order, without ALL; nil for a type this package does not
// support (delegation token, user, ANY, UNKNOWN). The caller must not modify
// the slice.
func Operations(rt kmsg.ACLResourceType) []kmsg.ACLOperation { return validOps[rt] }

// opValidFor reports whether a binding on rt may name op.
func opValidFor(rt kmsg.ACLResourceType, op kmsg.ACLOperation) bool {
	if op == kmsg.ACLOperationAll {
		return true
	}
	for _, v := range validOps[rt] {
		if v == op {
			return true
		}
	}
	return false
}

// Validate reports why b cannot be created by CreateAcls, or nil. It applies
// Kafka's checks (concrete resource type, pattern, operation and
// permission; a non-empty name; "kafka-cluster" as the only cluster name; a
// "Type:Name" principal) and these stricter ones: the resource type must be
// one Strata authorizes (topic, group, cluster, transactional id), the
// operation must be one Kafka defines for that type (or ALL), the principal
// name must be non-empty, and the host must be "*" or an IP address, since
// Authorize compares hosts with the client's address.
func (b Binding) Validate() error {
	switch b.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup,
		kmsg.ACLResourceTypeCluster, kmsg.ACLResourceTypeTransactionalId:
	case kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
		return fmt.Errorf("%w: %s ACLs are not supported", ErrUnsupportedResourceType, b.ResourceType)
	default:
		return fmt.Errorf("%w: %s (want TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID)", ErrInvalidResourceType, b.ResourceType)
	}
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed:
	default:
		return fmt.Errorf("%w: %s (want LITERAL or PREFIXED)", ErrInvalidPatternType, b.PatternType)
	}
	if b.ResourceName == "" {
		return fmt.Errorf("%w: empty", ErrInvalidResourceName)
	}
	if b.ResourceType == kmsg.ACLResourceTypeCluster && b.ResourceName != ClusterName {
		return fmt.Errorf("%w: the only valid name for the CLUSTER resource is %s, not %q",
			ErrInvalidResourceName, ClusterName, b.ResourceName)
	}
	typ, name, ok := strings.Cut(b.Principal, ":")
	if !ok {
		return fmt.Errorf("%w: %q is not Type:Name (no colon separates the principal type from the name)", ErrInvalidPrincipal, b.Principal)
	}
	if typ == "" || name == "" {
		return fmt.Errorf("%w: %q has an empty type or name", ErrInvalidPrincipal, b.Principal)
	}
	if b.Host != WildcardHost {
		if b.Host == "" {
			return fmt.Errorf("%w: empty (want \"*\" or an IP address)", ErrInvalidHost)
		}
		if _, err := netip.ParseAddr(b.Host); err != nil {
			return fmt.Errorf("%w: %q is neither \"*\" nor an IP address", ErrInvalidHost, b.Host)
		}
	}
	switch b.Operation {
	case kmsg.ACLOperationUnknown, kmsg.ACLOperationAny:
		return fmt.Errorf("%w: %s (want a concrete operation)", ErrInvalidOperation, b.Operation)
	}
	if !opValidFor(b.ResourceType, b.Operation) {
		return fmt.Errorf("%w: %s is not an operation on %s resources (valid: ALL %s)",
			ErrInvalidOperation, b.Operation, b.ResourceType, opList(validOps[b.ResourceType]))
	}
	switch b.Permission {
	case kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny:
	default:
		return fmt.Errorf("%w: %s (want ALLOW or DENY)", ErrInvalidPermission, b.Permission)
	}
	return nil
}

func opList(ops []kmsg.ACLOperation) string {
	s := make([]string, len(ops))
	for i, op := range ops {
		s[i] = op.String()
	}
	return strings.Join(s, " ")
}

// Validate reports why Kafka would refuse f in DescribeAcls or DeleteAcls,
// or nil: a filter may use ANY and MATCH but not UNKNOWN (nor a code Kafka
// does not define, which Kafka reads as UNKNOWN) for the resource type,
// pattern type, operation or permission.
func (f Filter) Validate() error {
	if f.ResourceType < kmsg.ACLResourceTypeAny || f.ResourceType > kmsg.ACLResourceTypeUser {
		return fmt.Errorf("%w: %s in filter", ErrInvalidResourceType, f.ResourceType)
	}
	if f.PatternType < kmsg.ACLResourcePatternTypeAny || f.PatternType > kmsg.ACLResourcePatternTypePrefixed {
		return fmt.Errorf("%w: %s in filter", ErrInvalidPatternType, f.PatternType)
	}
	if f.Operation < kmsg.ACLOperationAny || f.Operation > kmsg.ACLOperationDescribeTokens {
		return fmt.Errorf("%w: %s in filter", ErrInvalidOperation, f.Operation)
	}
	if f.Permission < kmsg.ACLPermissionTypeAny || f.Permission > kmsg.ACLPermissionTypeAllow {
		return fmt.Errorf("%w: %s in filter", ErrInvalidPermission, f.Permission)
	}
	return nil
}
