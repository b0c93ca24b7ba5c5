// Package quota is Kafka's client quotas: byte rates for produce and fetch
// and a request-time percentage, set per user, per client id or both, with
// defaults, resolved in Kafka's order of precedence, measured over sampled
// windows and enforced by telling a client how long to stay quiet
// (throttle_time_ms) as Kafka does. It holds the quotas it is given;
// package metadata stores them in etcd.
//
// # Entity names
//
//	user=<name>                     a user
//	client-id=<name>                a client id
//	user=<name>/client-id=<name>    both, user always first
//
// where <name> is "<default>" for the default component or the name with
// every byte outside [A-Za-z0-9._-] written %XX (upper-case hex), so a
// name can never read as "<default>". Entity.Key (and String) writes this
// form, for logs and messages.
//
// # Resolution and measurement
//
// For a connection's (user, client id) and one quota key, the most specific
// of /users/<user>/clients/<client-id>, /users/<user>/clients/<default>,
// /users/<user>, /users/<default>/clients/<client-id>,
// /users/<default>/clients/<default>, /users/<default>,
// /clients/<client-id>, /clients/<default> that sets the key supplies the
// limit. Its rate is tracked with Kafka's metric tags: per (user, client
// id) for the levels naming both, per user for /users/..., per client id
// for /clients/... — so all of a user's connections share a user quota,
// and each user has its own rate against a /users/<default> quota.
//
// # Concurrency
//
// Manager's configuration is immutable and swapped atomically; its one
// mutex guards all sensors and is never held while calling out. The other
// functions are pure.
package quota
