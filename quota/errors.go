package quota

import "errors"

// Sentinel errors. Functions wrap them with detail; the broker answers
// INVALID_REQUEST with err.Error() as the message, except for
// ErrUnknownEntityType in DescribeClientQuotas, which Kafka answers with
// UNSUPPORTED_VERSION.
var (
	// ErrEmptyEntity is an entity with neither a user nor a client id.
	ErrEmptyEntity = errors.New("quota: entity has no user and no client-id")
	// ErrBadComponent is a component that is both named and the default,
	// or neither (an empty name).
	ErrBadComponent = errors.New("quota: invalid entity component")
	// ErrUnknownEntityType is an entity type other than "user" and
	// "client-id" (Strata has no "ip" quotas).
	ErrUnknownEntityType = errors.New("quota: unsupported entity type")
	// ErrDuplicateEntityType is an entity type given twice in one entity
	// or one filter.
	ErrDuplicateEntityType = errors.New("quota: entity type given more than once")
	// ErrUnknownQuota is a quota key this package does not know.
	ErrUnknownQuota = errors.New("quota: unknown quota key")
	// ErrBadValue is a quota value out of range for its key.
	ErrBadValue = errors.New("quota: invalid quota value")
	// ErrBadFilter is a DescribeClientQuotas filter component that is
	// malformed (unknown match type, or a match string where none belongs).
	ErrBadFilter = errors.New("quota: invalid filter component")
)
