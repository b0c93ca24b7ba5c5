// Package acl is Kafka's access-control model: bindings of a resource
// pattern (type, name, literal or prefixed) to a principal, a host, an
// operation and allow or deny; the filters that DescribeAcls and DeleteAcls
// match them with; and the Authorizer that decides a request as Kafka's
// StandardAuthorizer does (super users, deny over allow, implied
// operations, wildcards, allow.everyone.if.no.acl.found). It holds the set
// of bindings it is given; package metadata stores them in etcd.
//
// # Pieces
//
//   - Binding.Validate is CreateAcls' check; Filter.Validate is
//     DescribeAcls' and DeleteAcls'. Both return errors wrapping the
//     sentinels below, whose text is meant for the INVALID_REQUEST message.
//   - Filter.Matches is Kafka's AclBindingFilter.matches; Set.Matching
//     applies it to a whole set.
//   - Set is an immutable, deduplicated, indexed set of bindings; Authorizer
//     decides with one Set at a time.
//
// # Concurrency
//
// A Set is never modified after NewSet returns, so any number of goroutines
// may read it. An Authorizer holds its current Set in an atomic pointer:
// SetBindings swaps it, Authorize and AuthorizedOperations load it once per
// call, and nothing takes a lock. To change the bindings, build a new Set
// from the stored bindings and swap it in.
//
// A nil *Authorizer is the authorizer switched off and allows everything.
//
// # Deviations from Apache Kafka
//
// Validate is stricter than Kafka's CreateAcls: it refuses delegation-token
// and user resources (Strata does not authorize them), an operation that
// Kafka does not define for the resource type (Kafka stores READ on the
// cluster, which never applies), a principal with an empty type or name,
// and a host that is neither "*" nor an IP address (Kafka stores host
// names, which never match). Like Kafka, it accepts principal types other
// than User (they never match a User: principal).
package acl
