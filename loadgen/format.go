package loadgen

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// thousands formats v rounded to an integer with thousands separators.
func thousands(v float64) string {
	n := int64(math.Round(v))
	s := strconv.FormatInt(max(n, -n), 10)
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtMs formats milliseconds with three significant digits ("0.412",
// "12.3", "1530"), or "—" for none.
func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "—"
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// fmtRatio formats b/a, or "—" when a is 0.
func fmtRatio(b, a float64) string {
	if a == 0 || math.IsNaN(b/a) {
		return "—"
	}
	r := b / a
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.2f", r)
}
