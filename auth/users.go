package auth

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// UserPassword is one bootstrap user read by ParseUsers.
type UserPassword struct {
	User     string
	Password string
}

// maxUsersLine bounds one line of a users file.
const maxUsersLine = 64 << 10

// ParseUsers reads bootstrap users, one "user:password" per line: the first
// colon splits, so a password may contain colons but a user name may not.
// Blank lines (only white space) and lines whose first character is "#"
// are skipped; a trailing "\r" is dropped. Nothing else is trimmed: spaces
// are part of the user name or password. An empty user or password, a line
// without a colon and a repeated user are errors wrapping ErrUsersFile that
// name the line; no error contains a password.
func ParseUsers(r io.Reader) ([]UserPassword, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxUsersLine)
	var users []UserPassword
	seen := make(map[string]int) // user -> line
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		user, password, ok := strings.Cut(text, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: line %d: want user:password", ErrUsersFile, line)
		case user == "":
			return nil, fmt.Errorf("%w: line %d: empty user", ErrUsersFile, line)
		case password == "":
			return nil, fmt.Errorf("%w: line %d: empty password for user %q", ErrUsersFile, line, user)
		}
		if prev, dup := seen[user]; dup {
			return nil, fmt.Errorf("%w: line %d: user %q already defined on line %d", ErrUsersFile, line, user, prev)
		}
		seen[user] = line
		users = append(users, UserPassword{User: user, Password: password})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: after line %d: %w", ErrUsersFile, line, err)
	}
	return users, nil
}
