package broker

// Kafka's listener configuration: listeners, advertised.listeners and
// listener.security.protocol.map, parsed and checked as Kafka checks them.
//
// Names are case-insensitive and normalised to upper case, as Kafka's
// ListenerName.normalised does. Deviations from Apache Kafka: an empty host
// in an advertised address is refused instead of being replaced by the
// canonical host name (ParseAdvertisedListeners takes the default host
// explicitly), and listener names are limited to letters, digits, '_' and
// '-', the characters that can appear in per-listener configuration keys.

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ErrBadListener wraps every error of ParseListeners and
// ParseAdvertisedListeners.
var ErrBadListener = errors.New("broker: bad listener")

// SecurityProtocol is Kafka's security protocol of a listener: whether it
// speaks TLS and whether clients authenticate with SASL.
type SecurityProtocol string

// Kafka's security protocols.
const (
	ProtocolPlaintext     SecurityProtocol = "PLAINTEXT"
	ProtocolSSL           SecurityProtocol = "SSL"
	ProtocolSASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	ProtocolSASLSSL       SecurityProtocol = "SASL_SSL"
)

var securityProtocols = []SecurityProtocol{ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL}

const protocolNames = "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"

// ParseSecurityProtocol returns the protocol named s, in any case.
func ParseSecurityProtocol(s string) (SecurityProtocol, error) {
	p := SecurityProtocol(strings.ToUpper(strings.TrimSpace(s)))
	for _, q := range securityProtocols {
		if p == q {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: unknown security protocol %q; want %s", ErrBadListener, s, protocolNames)
}

// TLS reports whether connections to the listener are TLS.
func (p SecurityProtocol) TLS() bool { return p == ProtocolSSL || p == ProtocolSASLSSL }

// SASL reports whether clients of the listener authenticate with SASL.
func (p SecurityProtocol) SASL() bool { return p == ProtocolSASLPlaintext || p == ProtocolSASLSSL }

// Listener is one entry of Kafka's listeners.
type Listener struct {
	// Name is the listener's name, upper case: the protocol's name when
	// there is no listener.security.protocol.map.
	Name string
	// Protocol is the listener's security protocol.
	Protocol SecurityProtocol
	// Addr is where it listens, host:port for net.Listen: an empty host
	// means all interfaces, IPv6 hosts are in brackets, port 0 is any free
	// port.
	Addr string
}

// ParseListeners parses Kafka's listeners, a comma-separated list of
// NAME://HOST:PORT such as "SASL_SSL://0.0.0.0:9093,PLAINTEXT://127.0.0.1:9092",
// with protocolMap, Kafka's listener.security.protocol.map, a
// comma-separated list of NAME:PROTOCOL such as
// "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL". With an empty protocolMap each
// name must be a protocol's name (Kafka's default map); with one, each name
// must be in it. HOST may be empty (all interfaces); IPv6 addresses go in
// brackets. Names must be distinct, and so must ports other than 0, except
// that, as in Kafka, two listeners may share a port when one binds an IPv4
// address and the other an IPv6 address. Empty entries are ignored. Errors
// wrap ErrBadListener and quote the offending entry.
func ParseListeners(s string, protocolMap string) ([]Listener, error) {
	protocols, err := parseProtocolMap(protocolMap)
	if err != nil {
		return nil, err
	}
	var (
		out     []Listener
		entries []string // out[i] came from entries[i]
		byName  = map[string]int{}
		byPort  = map[int][]int{}
	)
	for _, entry := range splitListenerSetting(s) {
		name, host, port, err := parseListenerEntry("listeners", entry, true)
		if err != nil {
			return nil, err
		}
		var proto SecurityProtocol
		if protocols != nil {
			p, ok := protocols[name]
			if !ok {
				return nil, fmt.Errorf("%w: listeners entry %q: listener %s is not in listener.security.protocol.map %q", ErrBadListener, entry, name, protocolMap)
			}
			proto = p
		} else {
			p, err := ParseSecurityProtocol(name)
			if err != nil {
				return nil, fmt.Errorf("%w: listeners entry %q: unknown security protocol %s; want %s, or map other names to one in listener.security.protocol.map", ErrBadListener, entry, name, protocolNames)
			}
			proto = p
		}
		if i, dup := byName[name]; dup {
			return nil, fmt.Errorf("%w: listeners entries %q and %q: listener name %s used twice", ErrBadListener, entries[i], entry, name)
		}
		byName[name] = len(out)
		if port != 0 {
			byPort[port] = append(byPort[port], len(out))
		}
		out = append(out, Listener{Name: name, Protocol: proto, Addr: net.JoinHostPort(host, strconv.Itoa(port))})
		entries = append(entries, entry)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: listeners %q: no listener; want NAME://HOST:PORT[,...]", ErrBadListener, s)
	}
	for i, l := range out {
		_, port, _ := net.SplitHostPort(l.Addr)
		p, _ := strconv.Atoi(port)
		same := byPort[p]
		if len(same) < 2 || same[0] != i {
			continue
		}
		if len(same) == 2 && ipv4AndIPv6Pair(out[same[0]].Addr, out[same[1]].Addr) {
			continue
		}
		return nil, fmt.Errorf("%w: listeners entries %q and %q: port %d used twice (only an IPv4 and an IPv6 address may share a port)", ErrBadListener, entries[same[0]], entries[same[1]], p)
	}
	return out, nil
}

// ParseAdvertisedListeners parses Kafka's advertised.listeners, a
// comma-separated list of NAME://HOST:PORT, and returns the address each of
// listeners advertises to clients, by name. Each name must be one of
// listeners; HOST must be a name or an address clients can reach, neither
// empty nor a wildcard such as 0.0.0.0. A listener without an entry
// advertises its own address, with defaultHost (the machine's host name, say)
// in place of an empty or wildcard host; without a defaultHost that is an
// error. When a listener binds port 0, pass the address it was bound to.
// Errors wrap ErrBadListener and quote the offending entry.
func ParseAdvertisedListeners(s string, listeners []Listener, defaultHost string) (map[string]string, error) {
	known := make(map[string]Listener, len(listeners))
	for _, l := range listeners {
		known[l.Name] = l
	}
	out := make(map[string]string, len(listeners))
	entries := map[string]string{}
	for _, entry := range splitListenerSetting(s) {
		name, host, port, err := parseListenerEntry("advertised.listeners", entry, false)
		if err != nil {
			return nil, err
		}
		if _, ok := known[name]; !ok {
			return nil, fmt.Errorf("%w: advertised.listeners entry %q: %s is not in listeners", ErrBadListener, entry, name)
		}
		if prev, dup := entries[name]; dup {
			return nil, fmt.Errorf("%w: advertised.listeners entries %q and %q: listener name %s used twice", ErrBadListener, prev, entry, name)
		}
		if wildcardHost(host) {
			return nil, fmt.Errorf("%w: advertised.listeners entry %q: clients cannot connect to %q; advertise a host name or address they can reach", ErrBadListener, entry, host)
		}
		entries[name] = entry
		out[name] = net.JoinHostPort(host, strconv.Itoa(port))
	}
	for _, l := range listeners {
		if _, ok := out[l.Name]; ok {
			continue
		}
		host, port, err := net.SplitHostPort(l.Addr)
		if err != nil {
			return nil, fmt.Errorf("%w: listener %s address %q: %v", ErrBadListener, l.Name, l.Addr, err)
		}
		if port == "0" {
			return nil, fmt.Errorf("%w: listener %s listens on port 0 and has no advertised.listeners entry: pass the address it was bound to", ErrBadListener, l.Name)
		}
		if wildcardHost(host) {
			if defaultHost == "" {
				return nil, fmt.Errorf("%w: listener %s listens on all interfaces (%q) and has no advertised.listeners entry: give one", ErrBadListener, l.Name, l.Addr)
			}
			host = defaultHost
		}
		out[l.Name] = net.JoinHostPort(host, port)
	}
	return out, nil
}

// parseProtocolMap parses listener.security.protocol.map; nil for "".
func parseProtocolMap(s string) (map[string]SecurityProtocol, error) {
	entries := splitListenerSetting(s)
	if len(entries) == 0 {
		return nil, nil
	}
	m := make(map[string]SecurityProtocol, len(entries))
	for _, entry := range entries {
		name, proto, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("%w: listener.security.protocol.map entry %q: want NAME:PROTOCOL", ErrBadListener, entry)
		}
		name = strings.ToUpper(strings.TrimSpace(name))
		if err := checkListenerName(name); err != nil {
			return nil, fmt.Errorf("%w: listener.security.protocol.map entry %q: %s", ErrBadListener, entry, err)
		}
		p, err := ParseSecurityProtocol(proto)
		if err != nil {
			return nil, fmt.Errorf("%w: listener.security.protocol.map entry %q: unknown security protocol %q; want %s", ErrBadListener, entry, proto, protocolNames)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%w: listener.security.protocol.map entry %q: listener %s mapped twice", ErrBadListener, entry, name)
		}
		m[name] = p
	}
	return m, nil
}

// parseListenerEntry parses NAME://HOST:PORT of the setting key. The name
// comes back upper case, the host without brackets; bind allows port 0.
func parseListenerEntry(key, entry string, bind bool) (name, host string, port int, err error) {
	bad := func(format string, args ...any) (string, string, int, error) {
		return "", "", 0, fmt.Errorf("%w: %s entry %q: %s", ErrBadListener, key, entry, fmt.Sprintf(format, args...))
	}
	name, addr, ok := strings.Cut(entry, "://")
	if !ok {
		return bad("want NAME://HOST:PORT")
	}
	name = strings.ToUpper(name)
	if err := checkListenerName(name); err != nil {
		return bad("%s", err)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Count(addr, ":") > 1 && !strings.HasPrefix(addr, "[") {
			return bad("put an IPv6 address in brackets: NAME://[ADDRESS]:PORT")
		}
		return bad("want NAME://HOST:PORT")
	}
	if err := checkListenerHost(host); err != nil {
		return bad("%s", err)
	}
	minPort := 1
	if bind {
		minPort = 0
	}
	port, err = strconv.Atoi(portStr)
	if err != nil || strings.TrimLeft(portStr, "0123456789") != "" || port < minPort || port > 65535 {
		return bad("port %q is not a number from %d to 65535", portStr, minPort)
	}
	return name, host, port, nil
}

// checkListenerName accepts names that fit in configuration keys
// (listener.name.NAME.…).
func checkListenerName(name string) error {
	if name == "" {
		return errors.New("empty listener name")
	}
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("listener name %q: use letters, digits, '_' and '-'", name)
		}
	}
	return nil
}

// checkListenerHost accepts "", an IP address (IPv6 with an optional zone) or a
// DNS name.
func checkListenerHost(host string) error {
	if host == "" {
		return nil
	}
	if strings.Contains(host, ":") {
		addr, _, _ := strings.Cut(host, "%")
		if net.ParseIP(addr) == nil {
			return fmt.Errorf("host %q is not an IPv6 address", host)
		}
		return nil
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("host %q: want a host name or an IP address", host)
		}
	}
	return nil
}

// wildcardHost reports whether host means all interfaces.
func wildcardHost(host string) bool {
	if host == "" {
		return true
	}
	addr, _, _ := strings.Cut(host, "%")
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsUnspecified()
}

// ipv4AndIPv6Pair reports whether one of the two host:port addresses is an IPv4
// address and the other an IPv6 address.
func ipv4AndIPv6Pair(a, b string) bool {
	family := func(addr string) int {
		host, _, _ := net.SplitHostPort(addr)
		host, _, _ = strings.Cut(host, "%")
		ip := net.ParseIP(host)
		switch {
		case ip == nil:
			return 0
		case ip.To4() != nil && !strings.Contains(host, ":"):
			return 4
		default:
			return 6
		}
	}
	fa, fb := family(a), family(b)
	return fa != 0 && fb != 0 && fa != fb
}

// splitListenerSetting splits a comma-separated setting, trimming spaces and dropping
// empty entries, as Kafka's parseCsvList does.
func splitListenerSetting(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
