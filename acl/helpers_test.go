package acl

import "github.com/twmb/franz-go/pkg/kmsg"

// Short names keep the specification tables readable.
const (
	topic   = kmsg.ACLResourceTypeTopic
	group   = kmsg.ACLResourceTypeGroup
	cluster = kmsg.ACLResourceTypeCluster
	txnID   = kmsg.ACLResourceTypeTransactionalId

	literal  = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed
	match    = kmsg.ACLResourcePatternTypeMatch
	anyPat   = kmsg.ACLResourcePatternTypeAny

	allow = kmsg.ACLPermissionTypeAllow
	deny  = kmsg.ACLPermissionTypeDeny

	opAll             = kmsg.ACLOperationAll
	opRead            = kmsg.ACLOperationRead
	opWrite           = kmsg.ACLOperationWrite
	opCreate          = kmsg.ACLOperationCreate
	opDelete          = kmsg.ACLOperationDelete
	opAlter           = kmsg.ACLOperationAlter
	opDescribe        = kmsg.ACLOperationDescribe
	opClusterAction   = kmsg.ACLOperationClusterAction
	opDescribeConfigs = kmsg.ACLOperationDescribeConfigs
	opAlterConfigs    = kmsg.ACLOperationAlterConfigs
	opIdempotentWrite = kmsg.ACLOperationIdempotentWrite
)

// bind returns a binding from host "*"; use .at to change the host.
func bind(perm kmsg.ACLPermissionType, principal string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, pat kmsg.ACLResourcePatternType, name string) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pat, Principal: principal, Host: "*", Operation: op, Permission: perm}
}

func (b Binding) at(host string) Binding { b.Host = host; return b }

func ptr(s string) *string { return &s }
