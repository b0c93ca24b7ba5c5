package quota

import (
	"fmt"
	"math"
)

// ControllerMutationRate is Kafka's quota on topic and partition creations
// and deletions per second (KIP-599). ValidateOp accepts it so that tools
// which set it do not fail, and it is stored and described like the
// others, but Strata does not enforce it.
const ControllerMutationRate = "controller_mutation_rate"

// keyKinds says, per known key, whether Kafka declares it a LONG (an
// integral value) or a DOUBLE.
var keyKinds = map[string]bool{ // key -> integral
	ProducerByteRate:       true,
	ConsumerByteRate:       true,
	RequestPercentage:      false,
	ControllerMutationRate: false,
}

// ValidateOp checks one AlterClientQuotas operation as Kafka's controller
// does. Removing a quota is always accepted, even for a key that is not
// known (as in Kafka it then removes nothing). Setting one needs a known key
// and a value greater than 0; the byte rates are LONGs in Kafka and must be
// whole numbers no larger than 2^63-1; request_percentage and
// controller_mutation_rate are DOUBLEs with no upper bound (a percentage of
// one request thread, so more than 100 is meaningful on a broker with many
// threads). Unlike Kafka, NaN and infinities are rejected.
func ValidateOp(key string, value float64, remove bool) error {
	if remove {
		return nil
	}
	integral, ok := keyKinds[key]
	if !ok {
		return fmt.Errorf("%w %q: known keys are %s, %s, %s and %s", ErrUnknownQuota, key,
			ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate)
	}
	switch {
	case math.IsNaN(value) || math.IsInf(value, 0):
		return fmt.Errorf("%w: %s must be a finite number, not %v", ErrBadValue, key, value)
	case value <= 0:
		return fmt.Errorf("%w: %s must be greater than 0, not %v", ErrBadValue, key, value)
	case integral && value >= math.MaxInt64:
		// float64(MaxInt64) rounds up to 2^63, which is already too large.
		return fmt.Errorf("%w: %s %v is too large for a 64-bit integer", ErrBadValue, key, value)
	case integral && math.Abs(math.Mod(value, 1)) > 1e-6:
		return fmt.Errorf("%w: %s must be an integer, not %v", ErrBadValue, key, value)
	}
	return nil
}
