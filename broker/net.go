package broker

import (
	"net"
	"strconv"
)

// splitHostPort splits an advertised address; a malformed one (refused by
// config validation) yields the whole string as host and port 0.
func splitHostPort(addr string) (string, int32) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(ps)
	return host, int32(port)
}
