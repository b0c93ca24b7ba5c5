package loadgen

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KfakeBootstrap is the bootstrap word that runs a workload against
// franz-go's in-memory kfake cluster, started in this process: "kfake" for
// one broker, "kfake:N" for N. kfake keeps every record in memory and
// writes nothing to disk: it is the reference of what the client and the
// machine reach with a broker that costs next to nothing. It holds every
// record it is sent until the run ends, so bound such runs (--records or
// --rate).
const KfakeBootstrap = "kfake"

// kfakeBrokers reports whether bootstrap asks for kfake, and with how
// many brokers.
func kfakeBrokers(bootstrap string) (n int, ok bool, err error) {
	rest, ok := strings.CutPrefix(bootstrap, KfakeBootstrap)
	if !ok || (rest != "" && rest[0] != ':') {
		return 0, false, nil
	}
	if rest == "" {
		return 1, true, nil
	}
	n, err = strconv.Atoi(rest[1:])
	if err != nil || n < 1 || n > 16 {
		return 0, false, fmt.Errorf("%w: bootstrap %q: want kfake or kfake:N with N from 1 to 16", ErrSetup, bootstrap)
	}
	return n, true, nil
}

// startKfake starts an in-memory kfake cluster of n brokers on 127.0.0.1.
func startKfake(n int) (*kfake.Cluster, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(n))
	if err != nil {
		return nil, fmt.Errorf("%w: kfake: %v", ErrSetup, err)
	}
	return c, nil
}
