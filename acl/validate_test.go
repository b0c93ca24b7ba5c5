package acl

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestBindingValidate(t *testing.T) {
	ok := bind(allow, "User:alice", opRead, topic, literal, "orders")
	with := func(f func(*Binding)) Binding { b := ok; f(&b); return b }
	for _, tc := range []struct {
		name    string
		b       Binding
		wantErr error  // nil: valid
		wantMsg string // substring of the message, when wantErr is set
	}{
		{"a literal topic read", ok, nil, ""},
		{"a prefixed topic", with(func(b *Binding) { b.PatternType = prefixed; b.ResourceName = "orders-" }), nil, ""},
		{"the literal wildcard topic", with(func(b *Binding) { b.ResourceName = "*" }), nil, ""},
		{"a wildcard principal", with(func(b *Binding) { b.Principal = "User:*" }), nil, ""},
		{"a non-User principal type, as Kafka accepts", with(func(b *Binding) { b.Principal = "Group:ops" }), nil, ""},
		{"an IPv4 host", ok.at("10.0.0.1"), nil, ""},
		{"an IPv6 host", ok.at("::1"), nil, ""},
		{"a deny", with(func(b *Binding) { b.Permission = deny }), nil, ""},
		{"ALL on a topic", with(func(b *Binding) { b.Operation = opAll }), nil, ""},
		{"a group describe", bind(allow, "User:a", opDescribe, group, literal, "g"), nil, ""},
		{"cluster idempotent write", bind(allow, "User:a", opIdempotentWrite, cluster, literal, "kafka-cluster"), nil, ""},
		{"cluster ALL", bind(deny, "User:a", opAll, cluster, literal, "kafka-cluster"), nil, ""},
		{"transactional id write", bind(allow, "User:a", opWrite, txnID, prefixed, "tx-"), nil, ""},

		{"resource type UNKNOWN", with(func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeUnknown }), ErrInvalidResourceType, "UNKNOWN"},
		{"resource type ANY", with(func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeAny }), ErrInvalidResourceType, "ANY"},
		{"an undefined resource type code", with(func(b *Binding) { b.ResourceType = 42 }), ErrInvalidResourceType, ""},
		{"delegation tokens are unsupported", with(func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeDelegationToken }), ErrUnsupportedResourceType, "not supported"},
		{"user resources are unsupported", with(func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeUser }), ErrUnsupportedResourceType, "not supported"},
		{"pattern ANY", with(func(b *Binding) { b.PatternType = anyPat }), ErrInvalidPatternType, "ANY"},
		{"pattern MATCH", with(func(b *Binding) { b.PatternType = match }), ErrInvalidPatternType, "MATCH"},
		{"pattern UNKNOWN", with(func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypeUnknown }), ErrInvalidPatternType, "UNKNOWN"},
		{"an empty resource name", with(func(b *Binding) { b.ResourceName = "" }), ErrInvalidResourceName, "empty"},
		{"a cluster not named kafka-cluster", bind(allow, "User:a", opAlter, cluster, literal, "prod"), ErrInvalidResourceName, "kafka-cluster"},
		{"a principal without a colon", with(func(b *Binding) { b.Principal = "alice" }), ErrInvalidPrincipal, "colon"},
		{"a principal with an empty name", with(func(b *Binding) { b.Principal = "User:" }), ErrInvalidPrincipal, "empty"},
		{"a principal with an empty type", with(func(b *Binding) { b.Principal = ":alice" }), ErrInvalidPrincipal, "empty"},
		{"an empty host", ok.at(""), ErrInvalidHost, "empty"},
		{"a host name", ok.at("broker.example"), ErrInvalidHost, "IP address"},
		{"operation UNKNOWN", with(func(b *Binding) { b.Operation = kmsg.ACLOperationUnknown }), ErrInvalidOperation, "UNKNOWN"},
		{"operation ANY", with(func(b *Binding) { b.Operation = kmsg.ACLOperationAny }), ErrInvalidOperation, "ANY"},
		{"cluster action on a topic", with(func(b *Binding) { b.Operation = opClusterAction }), ErrInvalidOperation, "CLUSTER_ACTION is not an operation on TOPIC"},
		{"write on a group", bind(allow, "User:a", opWrite, group, literal, "g"), ErrInvalidOperation, "WRITE"},
		{"read on the cluster", bind(allow, "User:a", opRead, cluster, literal, "kafka-cluster"), ErrInvalidOperation, "READ"},
		{"read on a transactional id", bind(allow, "User:a", opRead, txnID, literal, "tx"), ErrInvalidOperation, "READ"},
		{"create tokens on a topic", with(func(b *Binding) { b.Operation = kmsg.ACLOperationCreateTokens }), ErrInvalidOperation, ""},
		{"permission ANY", with(func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeAny }), ErrInvalidPermission, "ANY"},
		{"permission UNKNOWN", with(func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeUnknown }), ErrInvalidPermission, "UNKNOWN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.Validate()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Validate() = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Validate() = %q, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestOperationsPerResourceType(t *testing.T) {
	for _, tc := range []struct {
		rt   kmsg.ACLResourceType
		want []kmsg.ACLOperation
	}{
		{topic, []kmsg.ACLOperation{opRead, opWrite, opCreate, opDelete, opAlter, opDescribe, opDescribeConfigs, opAlterConfigs}},
		{group, []kmsg.ACLOperation{opRead, opDelete, opDescribe}},
		{cluster, []kmsg.ACLOperation{opCreate, opAlter, opDescribe, opClusterAction, opDescribeConfigs, opAlterConfigs, opIdempotentWrite}},
		{txnID, []kmsg.ACLOperation{opWrite, opDescribe}},
		{kmsg.ACLResourceTypeDelegationToken, nil},
		{kmsg.ACLResourceTypeAny, nil},
	} {
		got := Operations(tc.rt)
		if len(got) != len(tc.want) {
			t.Fatalf("Operations(%s) = %v, want %v", tc.rt, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("Operations(%s) = %v, want %v", tc.rt, got, tc.want)
			}
		}
	}
}

func TestFilterValidate(t *testing.T) {
	all := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: anyPat, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	with := func(f func(*Filter)) Filter { g := all; f(&g); return g }
	for _, tc := range []struct {
		name    string
		f       Filter
		wantErr error
	}{
		{"all ANY", all, nil},
		{"MATCH with a name", with(func(f *Filter) { f.PatternType = match; f.ResourceName = ptr("t") }), nil},
		{"concrete values", with(func(f *Filter) {
			f.ResourceType, f.PatternType, f.Operation, f.Permission = kmsg.ACLResourceTypeUser, prefixed, kmsg.ACLOperationDescribeTokens, allow
		}), nil},
		{"resource type UNKNOWN", with(func(f *Filter) { f.ResourceType = kmsg.ACLResourceTypeUnknown }), ErrInvalidResourceType},
		{"an undefined resource type code", with(func(f *Filter) { f.ResourceType = 8 }), ErrInvalidResourceType},
		{"pattern UNKNOWN", with(func(f *Filter) { f.PatternType = kmsg.ACLResourcePatternTypeUnknown }), ErrInvalidPatternType},
		{"an undefined pattern code", with(func(f *Filter) { f.PatternType = 5 }), ErrInvalidPatternType},
		{"operation UNKNOWN", with(func(f *Filter) { f.Operation = kmsg.ACLOperationUnknown }), ErrInvalidOperation},
		{"an undefined operation code", with(func(f *Filter) { f.Operation = 15 }), ErrInvalidOperation},
		{"permission UNKNOWN", with(func(f *Filter) { f.Permission = kmsg.ACLPermissionTypeUnknown }), ErrInvalidPermission},
		{"a negative permission code", with(func(f *Filter) { f.Permission = -1 }), ErrInvalidPermission},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f.Validate(); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Validate() = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
