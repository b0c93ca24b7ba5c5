package broker

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestCompatibilityDocListsEveryAPI: docs/compatibility.md's table names
// every API this broker serves with the versions ApiVersions advertises,
// and no other.
func TestCompatibilityDocListsEveryAPI(t *testing.T) {
	doc, err := os.ReadFile("../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (\d+) \| (\w+) \| (\d+)(?:–(\d+))? \|`)
	listed := map[int16]bool{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		key, _ := strconv.Atoi(m[1])
		lo, _ := strconv.Atoi(m[3])
		hi := lo
		if m[4] != "" {
			hi, _ = strconv.Atoi(m[4])
		}
		a, ok := apis[int16(key)]
		switch {
		case !ok:
			t.Errorf("the doc lists %s (key %d), which the broker does not serve", m[2], key)
		case int(a.min) != lo || int(a.max) != hi:
			t.Errorf("the doc lists %s (key %d) at versions %d–%d; the broker serves %d–%d", m[2], key, lo, hi, a.min, a.max)
		}
		listed[int16(key)] = true
	}
	for key := range apis {
		if !listed[key] {
			t.Errorf("API key %d is served but not in the doc's table", key)
		}
	}
}
