package quota

import (
	"errors"
	"math"
	"testing"
)

func TestValidateOp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    string
		value  float64
		remove bool
		err    error
	}{
		{"produce", ProducerByteRate, 1024, false, nil},
		{"consume", ConsumerByteRate, 1, false, nil},
		{"request", RequestPercentage, 0.5, false, nil},
		{"request above 100", RequestPercentage, 250, false, nil},
		{"mutation", ControllerMutationRate, 2.5, false, nil},
		{"unknown key", "producer_rate", 1, false, ErrUnknownQuota},
		{"empty key", "", 1, false, ErrUnknownQuota},
		{"zero", ProducerByteRate, 0, false, ErrBadValue},
		{"negative", RequestPercentage, -1, false, ErrBadValue},
		{"fraction of a byte", ConsumerByteRate, 10.5, false, ErrBadValue},
		{"nearly integral", ConsumerByteRate, 10 + 1e-9, false, nil},
		{"too large", ProducerByteRate, math.MaxInt64, false, ErrBadValue},
		{"largest", ProducerByteRate, 1 << 62, false, nil},
		{"nan", RequestPercentage, math.NaN(), false, ErrBadValue},
		{"inf", RequestPercentage, math.Inf(1), false, ErrBadValue},
		{"remove", ProducerByteRate, 0, true, nil},
		{"remove unknown", "whatever", -3, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateOp(tc.key, tc.value, tc.remove)
			if !errors.Is(err, tc.err) {
				t.Fatalf("ValidateOp = %v, want %v", err, tc.err)
			}
		})
	}
}
