package auth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseUsers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []UserPassword
		wantErr string // substring of the error; the error must wrap ErrUsersFile
	}{
		{name: "empty", in: "", want: nil},
		{name: "comments and blank lines", in: "# users\n\n   \n#alice:x\n", want: nil},
		{name: "two users", in: "alice:a-secret\nbob:b-secret\n",
			want: []UserPassword{{"alice", "a-secret"}, {"bob", "b-secret"}}},
		{name: "first colon splits", in: "alice:pa:ss:word", want: []UserPassword{{"alice", "pa:ss:word"}}},
		{name: "CRLF", in: "alice:secret\r\nbob:x\r\n", want: []UserPassword{{"alice", "secret"}, {"bob", "x"}}},
		{name: "no final newline", in: "alice:secret", want: []UserPassword{{"alice", "secret"}}},
		{name: "spaces kept", in: " alice : sec ret", want: []UserPassword{{" alice ", " sec ret"}}},
		{name: "hash inside a password", in: "alice:#secret", want: []UserPassword{{"alice", "#secret"}}},
		{name: "no colon", in: "# c\nalice\n", wantErr: "line 2: want user:password"},
		{name: "empty user", in: "alice:x\n:secret\n", wantErr: "line 2: empty user"},
		{name: "empty password", in: "\n\nalice:\n", wantErr: `line 3: empty password for user "alice"`},
		{name: "duplicate", in: "alice:one\nbob:x\nalice:two\n", wantErr: `line 3: user "alice" already defined on line 1`},
		{name: "line too long", in: "alice:" + strings.Repeat("x", maxUsersLine), wantErr: "after line 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUsers(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrUsersFile) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				for _, secret := range []string{"secret", "one", "two"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q contains a password", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
