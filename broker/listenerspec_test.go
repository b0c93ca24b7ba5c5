package broker

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestListenerSecurityProtocol(t *testing.T) {
	for _, tc := range []struct {
		in        string
		want      SecurityProtocol
		tls, sasl bool
	}{
		{"PLAINTEXT", ProtocolPlaintext, false, false},
		{"ssl", ProtocolSSL, true, false},
		{"SASL_PLAINTEXT", ProtocolSASLPlaintext, false, true},
		{" Sasl_Ssl ", ProtocolSASLSSL, true, true},
	} {
		p, err := ParseSecurityProtocol(tc.in)
		if err != nil || p != tc.want || p.TLS() != tc.tls || p.SASL() != tc.sasl {
			t.Errorf("ParseSecurityProtocol(%q) = %q (TLS %v, SASL %v), %v; want %q (TLS %v, SASL %v)",
				tc.in, p, p.TLS(), p.SASL(), err, tc.want, tc.tls, tc.sasl)
		}
	}
	for _, in := range []string{"", "TLS", "SASL", "PLAINTEXT_SSL"} {
		if _, err := ParseSecurityProtocol(in); !errors.Is(err, ErrBadListener) {
			t.Errorf("ParseSecurityProtocol(%q) error = %v; want ErrBadListener", in, err)
		}
	}
}

func TestParseListeners(t *testing.T) {
	for _, tc := range []struct {
		name, listeners, protocolMap string
		want                         []Listener
	}{
		{"one", "PLAINTEXT://:9092", "",
			[]Listener{{"PLAINTEXT", ProtocolPlaintext, ":9092"}}},
		{"protocol names", "SASL_SSL://0.0.0.0:9093,PLAINTEXT://127.0.0.1:9092", "",
			[]Listener{{"SASL_SSL", ProtocolSASLSSL, "0.0.0.0:9093"}, {"PLAINTEXT", ProtocolPlaintext, "127.0.0.1:9092"}}},
		{"lower case, spaces, empty entries", " ssl://broker-1.example.com:9093 , , sasl_plaintext://[::1]:9094,", "",
			[]Listener{{"SSL", ProtocolSSL, "broker-1.example.com:9093"}, {"SASL_PLAINTEXT", ProtocolSASLPlaintext, "[::1]:9094"}}},
		{"protocol map", "INTERNAL://10.0.0.1:9092,EXTERNAL://:9094,REPLICATION://[fe80::1%eth0]:9095",
			"INTERNAL:PLAINTEXT, external:SASL_SSL,Replication:ssl,UNUSED:SASL_PLAINTEXT",
			[]Listener{
				{"INTERNAL", ProtocolPlaintext, "10.0.0.1:9092"},
				{"EXTERNAL", ProtocolSASLSSL, ":9094"},
				{"REPLICATION", ProtocolSSL, "[fe80::1%eth0]:9095"},
			}},
		{"port 0 twice", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "",
			[]Listener{{"PLAINTEXT", ProtocolPlaintext, "127.0.0.1:0"}, {"SSL", ProtocolSSL, "127.0.0.1:0"}}},
		{"IPv4 and IPv6 share a port", "A://127.0.0.1:9092,B://[::1]:9092", "A:PLAINTEXT,B:PLAINTEXT",
			[]Listener{{"A", ProtocolPlaintext, "127.0.0.1:9092"}, {"B", ProtocolPlaintext, "[::1]:9092"}}},
		{"leading zeros", "PLAINTEXT://:09092", "",
			[]Listener{{"PLAINTEXT", ProtocolPlaintext, ":9092"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseListeners(tc.listeners, tc.protocolMap)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseListeners(%q, %q) =\n%+v\nwant\n%+v", tc.listeners, tc.protocolMap, got, tc.want)
			}
		})
	}
}

// TestParseListenersErrors checks that every bad setting is refused with a
// message naming the offending entry and what is wrong with it.
func TestParseListenersErrors(t *testing.T) {
	for _, tc := range []struct {
		name, listeners, protocolMap string
		want                         []string
	}{
		{"empty", "", "", []string{"no listener"}},
		{"only commas", " , ", "", []string{"no listener"}},
		{"unknown protocol", "PLAINTEXT://:9092,TLS://:9093", "", []string{`"TLS://:9093"`, "unknown security protocol TLS", "listener.security.protocol.map"}},
		{"name not in map", "INTERNAL://:9092,EXTERNAL://:9093", "INTERNAL:PLAINTEXT", []string{`"EXTERNAL://:9093"`, "not in listener.security.protocol.map"}},
		{"protocol name not in map", "PLAINTEXT://:9092", "INTERNAL:PLAINTEXT", []string{`"PLAINTEXT://:9092"`, "not in listener.security.protocol.map"}},
		{"duplicate name", "PLAINTEXT://:9092,plaintext://:9093", "", []string{`"PLAINTEXT://:9092"`, `"plaintext://:9093"`, "PLAINTEXT used twice"}},
		{"duplicate port", "PLAINTEXT://:9092,SSL://127.0.0.1:9092", "", []string{`"PLAINTEXT://:9092"`, `"SSL://127.0.0.1:9092"`, "port 9092 used twice"}},
		{"duplicate port, two IPv4", "A://127.0.0.1:9092,B://10.0.0.1:9092", "A:PLAINTEXT,B:SSL", []string{`"A://127.0.0.1:9092"`, `"B://10.0.0.1:9092"`, "port 9092"}},
		{"duplicate port, three", "A://127.0.0.1:9092,B://[::1]:9092,C://10.0.0.1:9092", "A:PLAINTEXT,B:SSL,C:SSL", []string{"port 9092"}},
		{"no scheme", "localhost:9092", "", []string{`"localhost:9092"`, "NAME://HOST:PORT"}},
		{"no port", "PLAINTEXT://localhost", "", []string{`"PLAINTEXT://localhost"`, "NAME://HOST:PORT"}},
		{"bad port", "PLAINTEXT://:port", "", []string{`"PLAINTEXT://:port"`, `port "port"`, "0 to 65535"}},
		{"port too big", "PLAINTEXT://:65536", "", []string{`port "65536"`}},
		{"negative port", "PLAINTEXT://:-1", "", []string{`port "-1"`}},
		{"signed port", "PLAINTEXT://:+9092", "", []string{`port "+9092"`}},
		{"IPv6 without brackets", "PLAINTEXT://::1:9092", "", []string{`"PLAINTEXT://::1:9092"`, "brackets"}},
		{"bad IPv6", "PLAINTEXT://[::g]:9092", "", []string{`host "::g"`}},
		{"bad host", "PLAINTEXT://host/x:9092", "", []string{`host "host/x"`}},
		{"empty name", "://:9092", "", []string{"empty listener name"}},
		{"bad name", "IN.TERNAL://:9092", "IN.TERNAL:PLAINTEXT", []string{`"IN.TERNAL:PLAINTEXT"`, "letters, digits"}},
		{"map without colon", "PLAINTEXT://:9092", "PLAINTEXT", []string{`entry "PLAINTEXT"`, "NAME:PROTOCOL"}},
		{"map to unknown protocol", "INTERNAL://:9092", "INTERNAL:TLS", []string{`"INTERNAL:TLS"`, `unknown security protocol "TLS"`}},
		{"map names twice", "INTERNAL://:9092", "INTERNAL:PLAINTEXT,internal:SSL", []string{`"internal:SSL"`, "mapped twice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseListeners(tc.listeners, tc.protocolMap)
			if err == nil {
				t.Fatalf("ParseListeners(%q, %q) = %+v; want an error", tc.listeners, tc.protocolMap, got)
			}
			if !errors.Is(err, ErrBadListener) {
				t.Errorf("error %v does not wrap ErrBadListener", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestParseAdvertisedListeners(t *testing.T) {
	listeners := []Listener{
		{"INTERNAL", ProtocolPlaintext, "10.0.0.1:9092"},
		{"EXTERNAL", ProtocolSASLSSL, "0.0.0.0:9094"},
		{"LOCAL", ProtocolPlaintext, ":9095"},
		{"V6", ProtocolSSL, "[::]:9096"},
	}
	for _, tc := range []struct {
		name, advertised, defaultHost string
		want                          map[string]string
	}{
		{"all given", "INTERNAL://broker-1.internal:9092,EXTERNAL://kafka.example.com:19094,LOCAL://localhost:9095,V6://[2001:db8::1]:9096", "",
			map[string]string{"INTERNAL": "broker-1.internal:9092", "EXTERNAL": "kafka.example.com:19094", "LOCAL": "localhost:9095", "V6": "[2001:db8::1]:9096"}},
		{"defaults", "external://kafka.example.com:9094", "broker-1",
			map[string]string{"INTERNAL": "10.0.0.1:9092", "EXTERNAL": "kafka.example.com:9094", "LOCAL": "broker-1:9095", "V6": "broker-1:9096"}},
		{"empty", "", "broker-1",
			map[string]string{"INTERNAL": "10.0.0.1:9092", "EXTERNAL": "broker-1:9094", "LOCAL": "broker-1:9095", "V6": "broker-1:9096"}},
		{"same port on two hosts", "INTERNAL://a:9092,EXTERNAL://b:9092", "broker-1",
			map[string]string{"INTERNAL": "a:9092", "EXTERNAL": "b:9092", "LOCAL": "broker-1:9095", "V6": "broker-1:9096"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAdvertisedListeners(tc.advertised, listeners, tc.defaultHost)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseAdvertisedListeners(%q) = %v; want %v", tc.advertised, got, tc.want)
			}
		})
	}
}

func TestParseAdvertisedListenersErrors(t *testing.T) {
	listeners := []Listener{
		{"INTERNAL", ProtocolPlaintext, "10.0.0.1:9092"},
		{"EXTERNAL", ProtocolSASLSSL, "0.0.0.0:9094"},
	}
	for _, tc := range []struct {
		name, advertised, defaultHost string
		listeners                     []Listener
		want                          []string
	}{
		{"unknown name", "INTERNAL://a:9092,PUBLIC://b:9094", "h", listeners, []string{`"PUBLIC://b:9094"`, "not in listeners"}},
		{"twice", "INTERNAL://a:9092,internal://b:9092", "h", listeners, []string{`"INTERNAL://a:9092"`, `"internal://b:9092"`, "used twice"}},
		{"wildcard", "EXTERNAL://0.0.0.0:9094", "h", listeners, []string{`"EXTERNAL://0.0.0.0:9094"`, "cannot connect"}},
		{"empty host", "EXTERNAL://:9094", "h", listeners, []string{`"EXTERNAL://:9094"`, "cannot connect"}},
		{"IPv6 wildcard", "EXTERNAL://[::]:9094", "h", listeners, []string{`"EXTERNAL://[::]:9094"`, "cannot connect"}},
		{"port 0", "EXTERNAL://a:0", "h", listeners, []string{`"EXTERNAL://a:0"`, "1 to 65535"}},
		{"bad port", "EXTERNAL://a:x", "h", listeners, []string{`"EXTERNAL://a:x"`, `port "x"`}},
		{"no scheme", "a:9094", "h", listeners, []string{`"a:9094"`, "NAME://HOST:PORT"}},
		{"wildcard listener without default host", "INTERNAL://a:9092", "", listeners, []string{"EXTERNAL", "all interfaces", "0.0.0.0:9094"}},
		{"listener on port 0", "", "h", []Listener{{"PLAINTEXT", ProtocolPlaintext, "127.0.0.1:0"}}, []string{"PLAINTEXT", "port 0", "bound"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAdvertisedListeners(tc.advertised, tc.listeners, tc.defaultHost)
			if err == nil {
				t.Fatalf("ParseAdvertisedListeners(%q) = %v; want an error", tc.advertised, got)
			}
			if !errors.Is(err, ErrBadListener) {
				t.Errorf("error %v does not wrap ErrBadListener", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}
