package bytesize

import (
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "12", want: 12},
		{in: "12B", want: 12},
		{in: "1024", want: KiB},
		{in: "1KiB", want: KiB},
		{in: "8MiB", want: 8 * MiB},
		{in: "8 MiB", want: 8 * MiB},
		{in: "8mib", want: 8 * MiB},
		{in: " 100MiB ", want: 104857600},
		{in: "1GiB", want: GiB},
		{in: "2TiB", want: 2 * TiB},
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "", wantErr: "want a number"},
		{in: "abc", wantErr: "want a number"},
		{in: "MiB", wantErr: "want a number"},
		{in: "-1", wantErr: "want a number"},
		{in: "1.5MiB", wantErr: "want a number"},
		{in: "8XiB", wantErr: "want a number"},
		{in: "8MB", wantErr: `unit "MB" is ambiguous`},
		{in: "8k", wantErr: `unit "k" is ambiguous`},
		{in: "9223372036854775808", wantErr: "too large"},
		{in: "8388608TiB", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	for size, want := range map[Size]string{
		0: "0", 12: "12", 1536: "1536", KiB: "1KiB", 3 * KiB: "3KiB",
		8 * MiB: "8MiB", 100 * MiB: "100MiB", GiB: "1GiB", 2048 * GiB: "2TiB",
	} {
		if got := size.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(size), got, want)
		}
		if back, err := Parse(want); err != nil || back != size {
			t.Errorf("Parse(%q) = %v, %v; want %d", want, back, err, int64(size))
		}
	}
}
