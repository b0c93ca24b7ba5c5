package metadata

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/acl"
	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/quota"
)

// This file stores what authentication, authorization and quotas need:
// SCRAM credentials, ACL bindings and client quotas, under security/ (see
// the key layout in the package doc). The values are metadata's own JSON
// structs (credentialValue, aclValue, quotaValue), not the auth, acl and
// quota types themselves, so that the stored format is frozen here and a
// change of those packages' JSON tags cannot change it.

var (
	// ErrNoCredential: the user has no SCRAM credential for the mechanism.
	ErrNoCredential = errors.New("metadata: no such SCRAM credential")
)

// maxQuotaAttempts bounds AlterQuotas's read-modify-write attempts on a
// conflict before it gives up with ErrConflict.
const maxQuotaAttempts = 16

// aclDeletesPerTxn is how many nested transactions (one compare, one
// delete each) DeleteACLs puts in one: etcd counts a nested transaction's
// operations against what the outer one leaves of --max-txn-ops, so n of
// them need n + 1 <= 128.
const aclDeletesPerTxn = maxTxnOps / 2

// credentialValue is the stored form of an auth.Credential. Frozen: the
// format of security/scram/ values.
type credentialValue struct {
	Mechanism  int8   `json:"mechanism"`
	Iterations int32  `json:"iterations"`
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"storedKey"`
	ServerKey  []byte `json:"serverKey"`
}

func toCredentialValue(c auth.Credential) credentialValue {
	return credentialValue{Mechanism: int8(c.Mechanism), Iterations: c.Iterations, Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey}
}

func (v credentialValue) credential() auth.Credential {
	return auth.Credential{Mechanism: auth.Mechanism(v.Mechanism), Iterations: v.Iterations, Salt: v.Salt, StoredKey: v.StoredKey, ServerKey: v.ServerKey}
}

// checkCredential rejects what no SCRAM exchange could use. Policy (minimum
// iterations and the like) is the caller's.
func checkCredential(user string, c auth.Credential) error {
	switch {
	case user == "":
		return fmt.Errorf("%w: empty SCRAM user name", ErrInvalid)
	case c.Mechanism != auth.ScramSHA256 && c.Mechanism != auth.ScramSHA512:
		return fmt.Errorf("%w: SCRAM mechanism %d of user %q", ErrInvalid, c.Mechanism, user)
	case c.Iterations <= 0:
		return fmt.Errorf("%w: %d SCRAM iterations for user %q", ErrInvalid, c.Iterations, user)
	case len(c.Salt) == 0 || len(c.StoredKey) == 0 || len(c.ServerKey) == 0:
		return fmt.Errorf("%w: SCRAM credential of user %q without salt or keys", ErrInvalid, user)
	}
	return nil
}

// PutScramCredential sets user's credential for c.Mechanism, replacing any.
func (s *Store) PutScramCredential(ctx context.Context, user string, c auth.Credential) error {
	if err := checkCredential(user, c); err != nil {
		return err
	}
	val, err := json.Marshal(toCredentialValue(c))
	if err != nil {
		return fmt.Errorf("metadata: encode SCRAM credential of %q: %w", user, err)
	}
	if _, err := s.client.Put(ctx, s.keys.scramCredential(user, c.Mechanism), string(val)); err != nil {
		return fmt.Errorf("metadata: put SCRAM credential of %q: %w", user, err)
	}
	return nil
}

// EnsureScramCredential sets user's credential for c.Mechanism only if the
// user has none for it, and says whether it did. Bootstrap users are set
// with it at start-up, so that a restart never rotates a password's salt
// nor undoes a change made since through AlterUserScramCredentials.
func (s *Store) EnsureScramCredential(ctx context.Context, user string, c auth.Credential) (created bool, err error) {
	if err := checkCredential(user, c); err != nil {
		return false, err
	}
	val, err := json.Marshal(toCredentialValue(c))
	if err != nil {
		return false, fmt.Errorf("metadata: encode SCRAM credential of %q: %w", user, err)
	}
	key := s.keys.scramCredential(user, c.Mechanism)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).
		Commit()
	if err != nil {
		return false, fmt.Errorf("metadata: ensure SCRAM credential of %q: %w", user, err)
	}
	return resp.Succeeded, nil
}

// DeleteScramCredential deletes user's credential for m; ErrNoCredential
// when there is none.
func (s *Store) DeleteScramCredential(ctx context.Context, user string, m auth.Mechanism) error {
	resp, err := s.client.Delete(ctx, s.keys.scramCredential(user, m))
	if err != nil {
		return fmt.Errorf("metadata: delete SCRAM credential of %q: %w", user, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("%w: user %q, mechanism %d", ErrNoCredential, user, m)
	}
	return nil
}

// ScramCredentials returns the credentials of users (of every user when
// none is given), by user, each user's ordered by mechanism. A user with
// none is absent from the map. Each batch of up to 128 users is read at
// one revision.
func (s *Store) ScramCredentials(ctx context.Context, users ...string) (map[string][]auth.Credential, error) {
	out := map[string][]auth.Credential{}
	var kvs []*mvccpb.KeyValue
	if len(users) == 0 {
		resp, err := s.client.Get(ctx, s.keys.scramCredentials(), clientv3.WithPrefix())
		if err != nil {
			return nil, fmt.Errorf("metadata: read SCRAM credentials: %w", err)
		}
		kvs = resp.Kvs
	} else {
		users = slices.Clone(users)
		slices.Sort(users)
		users = slices.Compact(users)
		for batch := range slices.Chunk(users, maxTxnOps) {
			ops := make([]clientv3.Op, len(batch))
			for i, u := range batch {
				ops[i] = clientv3.OpGet(s.keys.scramUser(u), clientv3.WithPrefix())
			}
			resp, err := s.client.Txn(ctx).Then(ops...).Commit()
			if err != nil {
				return nil, fmt.Errorf("metadata: read SCRAM credentials: %w", err)
			}
			for _, r := range resp.Responses {
				kvs = append(kvs, r.GetResponseRange().Kvs...)
			}
		}
	}
	for _, kv := range kvs {
		user, c, err := s.decodeCredential(kv)
		if err != nil {
			return nil, err
		}
		out[user] = append(out[user], c)
	}
	for _, cs := range out {
		sortCredentials(cs)
	}
	return out, nil
}

func sortCredentials(cs []auth.Credential) {
	slices.SortFunc(cs, func(a, b auth.Credential) int { return cmp.Compare(a.Mechanism, b.Mechanism) })
}

// decodeCredential decodes a key and value under security/scram/.
func (s *Store) decodeCredential(kv *mvccpb.KeyValue) (string, auth.Credential, error) {
	rel := strings.TrimPrefix(string(kv.Key), s.keys.scramCredentials())
	esc, _, _ := strings.Cut(rel, "/")
	user, err := url.PathUnescape(esc)
	var v credentialValue
	if err == nil {
		err = json.Unmarshal(kv.Value, &v)
	}
	if err != nil {
		return "", auth.Credential{}, fmt.Errorf("metadata: SCRAM credential at %s: %w", kv.Key, err)
	}
	return user, v.credential(), nil
}

// aclValue is the stored form of an acl.Binding. Frozen: the format of
// security/acls/ values, and (through aclKey) of their keys.
type aclValue struct {
	ResourceType int8   `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	PatternType  int8   `json:"patternType"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

func toACLValue(b acl.Binding) aclValue {
	return aclValue{
		ResourceType: int8(b.ResourceType), ResourceName: b.ResourceName, PatternType: int8(b.PatternType),
		Principal: b.Principal, Host: b.Host, Operation: int8(b.Operation), Permission: int8(b.Permission),
	}
}

func (v aclValue) binding() acl.Binding {
	return acl.Binding{
		ResourceType: kmsg.ACLResourceType(v.ResourceType), ResourceName: v.ResourceName,
		PatternType: kmsg.ACLResourcePatternType(v.PatternType), Principal: v.Principal, Host: v.Host,
		Operation: kmsg.ACLOperation(v.Operation), Permission: kmsg.ACLPermissionType(v.Permission),
	}
}

// encodeACL is a binding's stored value and the key segment it is stored
// under: the hex SHA-256 of that value, so that one binding has one key
// and creating it again is idempotent.
func encodeACL(b acl.Binding) (key string, val []byte) {
	val, _ = json.Marshal(toACLValue(b)) // plain integers and strings: cannot fail
	sum := sha256.Sum256(val)
	return hex.EncodeToString(sum[:]), val
}

// CreateACLs stores bs. A binding stored already is stored again (same key,
// same value): creating is idempotent, and a DeleteACLs that read the
// binding before does not delete it. The bindings go in as few
// transactions as etcd's limits allow; on an error, those of the
// transactions before are stored.
func (s *Store) CreateACLs(ctx context.Context, bs []acl.Binding) error {
	var ops []clientv3.Op
	seen := map[string]bool{} // etcd rejects a transaction that writes a key twice
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := s.client.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("metadata: create ACLs: %w", err)
		}
		ops, seen, size = nil, map[string]bool{}, 0
		return nil
	}
	for _, b := range bs {
		seg, val := encodeACL(b)
		if seen[seg] {
			continue
		}
		key := s.keys.acl(seg)
		if len(ops) == maxTxnOps || size+len(key)+len(val) > maxTxnBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		ops = append(ops, clientv3.OpPut(key, string(val)))
		seen[seg] = true
		size += len(key) + len(val)
	}
	return flush()
}

// ACLs returns every stored binding, in key order.
func (s *Store) ACLs(ctx context.Context) ([]acl.Binding, error) {
	return getAll(ctx, s, s.keys.acls(), "ACLs", decodeACL)
}

func decodeACL(kv *mvccpb.KeyValue) (acl.Binding, error) {
	var v aclValue
	if err := json.Unmarshal(kv.Value, &v); err != nil {
		return acl.Binding{}, fmt.Errorf("metadata: ACL at %s: %w", kv.Key, err)
	}
	return v.binding(), nil
}

// DeleteACLs deletes every stored binding that match returns true for and
// returns those it deleted, in key order. Each is deleted only if its key
// is unchanged since it was read (a nested transaction comparing its
// ModRevision), so that a binding created again meanwhile stays and is not
// returned. On an error, the bindings of the transactions before are
// deleted, though not returned.
func (s *Store) DeleteACLs(ctx context.Context, match func(acl.Binding) bool) ([]acl.Binding, error) {
	resp, err := s.client.Get(ctx, s.keys.acls(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metadata: read ACLs: %w", err)
	}
	type doomed struct {
		b   acl.Binding
		key string
		rev int64
	}
	var del []doomed
	for _, kv := range resp.Kvs {
		b, err := decodeACL(kv)
		if err != nil {
			return nil, err
		}
		if match(b) {
			del = append(del, doomed{b: b, key: string(kv.Key), rev: kv.ModRevision})
		}
	}
	var out []acl.Binding
	for batch := range slices.Chunk(del, aclDeletesPerTxn) {
		ops := make([]clientv3.Op, len(batch))
		for i, d := range batch {
			ops[i] = clientv3.OpTxn(
				[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(d.key), "=", d.rev)},
				[]clientv3.Op{clientv3.OpDelete(d.key)}, nil)
		}
		tr, err := s.client.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, fmt.Errorf("metadata: delete ACLs: %w", err)
		}
		for i, r := range tr.Responses {
			if r.GetResponseTxn().GetSucceeded() {
				out = append(out, batch[i].b)
			}
		}
	}
	return out, nil
}

// componentValue and quotaValue are the stored form of a quota entity and
// its quotas. Frozen: the format of security/quotas/ values.
type componentValue struct {
	Name    string `json:"name,omitempty"`
	Default bool   `json:"default,omitempty"`
}

type quotaValue struct {
	User     *componentValue    `json:"user,omitempty"`
	ClientID *componentValue    `json:"clientId,omitempty"`
	Quotas   map[string]float64 `json:"quotas"`
}

func toComponentValue(c *quota.Component) *componentValue {
	if c == nil {
		return nil
	}
	return &componentValue{Name: c.Name, Default: c.Default}
}

func (c *componentValue) component() *quota.Component {
	if c == nil {
		return nil
	}
	return &quota.Component{Name: c.Name, Default: c.Default}
}

// QuotaAlteration changes the quotas of one entity: Set puts values,
// Remove deletes keys (absent ones are ignored). A key may not be in both.
type QuotaAlteration struct {
	Entity quota.Entity
	Set    map[string]float64
	Remove []string
}

// QuotaEntry is one entity's quotas.
type QuotaEntry struct {
	Entity quota.Entity
	Quotas quota.Quotas
}

// quotaEntityKey is an entity's key segment: "u<c>/c<c>" for the user and
// the client id, where <c> is "=" and the name path-escaped for a name,
// "*" for the default and "-" when the component is absent. The character
// after the kind letter tells the three apart whatever the name.
func quotaEntityKey(e quota.Entity) (string, error) {
	if e.User == nil && e.ClientID == nil {
		return "", fmt.Errorf("%w: quota entity with neither user nor client id", ErrInvalid)
	}
	seg := func(kind string, c *quota.Component) (string, error) {
		switch {
		case c == nil:
			return kind + "-", nil
		case c.Default && c.Name != "":
			return "", fmt.Errorf("%w: quota entity %s both default and named %q", ErrInvalid, kind, c.Name)
		case c.Default:
			return kind + "*", nil
		}
		return kind + "=" + url.PathEscape(c.Name), nil
	}
	u, err := seg("u", e.User)
	if err != nil {
		return "", err
	}
	c, err := seg("c", e.ClientID)
	if err != nil {
		return "", err
	}
	return u + "/" + c, nil
}

// quotaChange is the alterations of one entity in one AlterQuotas.
type quotaChange struct {
	key    string
	entity quota.Entity
	alts   []QuotaAlteration
}

// AlterQuotas applies ops, each to its entity's stored quotas; an entity
// left with none is deleted. Ops on one entity apply in order. Up to 128
// entities change in one transaction, as a read-modify-write guarded by
// the ModRevision of every key it read, read again and tried again on a
// conflict, at most 16 times (then ErrConflict). On an error, the
// transactions before are kept.
func (s *Store) AlterQuotas(ctx context.Context, ops []QuotaAlteration) error {
	var changes []*quotaChange
	byKey := map[string]*quotaChange{}
	for _, op := range ops {
		seg, err := quotaEntityKey(op.Entity)
		if err != nil {
			return err
		}
		for k, v := range op.Set {
			if k == "" || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: quota %q = %v", ErrInvalid, k, v)
			}
			if slices.Contains(op.Remove, k) {
				return fmt.Errorf("%w: quota %q both set and removed", ErrInvalid, k)
			}
		}
		ch := byKey[seg]
		if ch == nil {
			ch = &quotaChange{key: s.keys.quota(seg), entity: op.Entity}
			byKey[seg] = ch
			changes = append(changes, ch)
		}
		ch.alts = append(ch.alts, op)
	}
	for batch := range slices.Chunk(changes, maxTxnOps) {
		if err := s.alterQuotaBatch(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

// alterQuotaBatch applies the changes of up to maxTxnOps entities in one
// transaction.
func (s *Store) alterQuotaBatch(ctx context.Context, batch []*quotaChange) error {
	gets := make([]clientv3.Op, len(batch))
	for i, ch := range batch {
		gets[i] = clientv3.OpGet(ch.key)
	}
	tr, err := s.client.Txn(ctx).Then(gets...).Commit()
	for attempt := 1; ; attempt++ {
		if err != nil {
			return fmt.Errorf("metadata: alter quotas: %w", err)
		}
		cmps := make([]clientv3.Cmp, len(batch))
		var writes []clientv3.Op
		for i, ch := range batch {
			kvs := tr.Responses[i].GetResponseRange().Kvs
			rev := int64(0) // ModRevision 0 compares true only while the key is absent
			q := quota.Quotas{}
			if len(kvs) > 0 {
				rev = kvs[0].ModRevision
				e, err := decodeQuota(kvs[0])
				if err != nil {
					return err
				}
				q = e.Quotas
			}
			cmps[i] = clientv3.Compare(clientv3.ModRevision(ch.key), "=", rev)
			for _, a := range ch.alts {
				maps.Copy(q, a.Set)
				for _, k := range a.Remove {
					delete(q, k)
				}
			}
			switch {
			case len(q) > 0:
				val, err := json.Marshal(quotaValue{User: toComponentValue(ch.entity.User), ClientID: toComponentValue(ch.entity.ClientID), Quotas: q})
				if err != nil {
					return fmt.Errorf("metadata: encode quotas of %s: %w", ch.key, err)
				}
				writes = append(writes, clientv3.OpPut(ch.key, string(val)))
			case rev != 0:
				writes = append(writes, clientv3.OpDelete(ch.key))
			}
		}
		if len(writes) == 0 {
			return nil
		}
		tr, err = s.client.Txn(ctx).If(cmps...).Then(writes...).Else(gets...).Commit()
		if err == nil && tr.Succeeded {
			return nil
		}
		if err == nil && attempt == maxQuotaAttempts {
			return fmt.Errorf("%w: quotas still changing after %d attempts", ErrConflict, attempt)
		}
	}
}

func decodeQuota(kv *mvccpb.KeyValue) (QuotaEntry, error) {
	var v quotaValue
	if err := json.Unmarshal(kv.Value, &v); err != nil {
		return QuotaEntry{}, fmt.Errorf("metadata: quotas at %s: %w", kv.Key, err)
	}
	if v.Quotas == nil {
		v.Quotas = map[string]float64{}
	}
	return QuotaEntry{Entity: quota.Entity{User: v.User.component(), ClientID: v.ClientID.component()}, Quotas: v.Quotas}, nil
}

// Quotas returns every entity's quotas, in key order.
func (s *Store) Quotas(ctx context.Context) ([]QuotaEntry, error) {
	return getAll(ctx, s, s.keys.quotas(), "quotas", decodeQuota)
}

// Security is everything under security/ as of one etcd revision. It is
// never modified once published: its maps, slices and the byte slices of
// its credentials are shared with later snapshots and must not be written.
type Security struct {
	Revision    int64
	Credentials map[string][]auth.Credential // by user, each ordered by mechanism
	ACLs        []acl.Binding                // in key order
	Quotas      []QuotaEntry                 // in key order

	// By etcd key, what the exported fields are built from.
	creds  map[string]credentialEntry
	acls   map[string]acl.Binding
	quotas map[string]QuotaEntry
}

type credentialEntry struct {
	user string
	cred auth.Credential
}

// ReadSecurity reads everything under security/ at one revision.
func (s *Store) ReadSecurity(ctx context.Context) (*Security, error) {
	resp, err := s.client.Get(ctx, s.keys.security(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metadata: read security: %w", err)
	}
	sec := &Security{
		Revision: resp.Header.Revision,
		creds:    map[string]credentialEntry{},
		acls:     map[string]acl.Binding{},
		quotas:   map[string]QuotaEntry{},
	}
	for _, kv := range resp.Kvs {
		s.applySecurityEvent(sec, &clientv3.Event{Type: mvccpb.PUT, Kv: kv})
	}
	sec.build(true, true, true)
	return sec, nil
}

// WatchSecurity calls fn with the current Security, then with a new one
// after each change, until ctx ends, as Watch does for the View: fn runs
// on WatchSecurity's goroutine, and a broken watch (compaction, a failed
// member) is followed by a full read. Every broker runs it, so that a
// change reaches every broker within the watch's latency.
func (s *Store) WatchSecurity(ctx context.Context, fn func(*Security)) error {
	var cur *Security
	read := func(ctx context.Context) (int64, error) {
		sec, err := s.ReadSecurity(ctx)
		if err != nil {
			return 0, err
		}
		cur = sec
		fn(sec)
		return sec.Revision, nil
	}
	apply := func(wr clientv3.WatchResponse) {
		if len(wr.Events) == 0 {
			// A progress notification: nothing changed up to its revision.
			next := *cur
			next.Revision = wr.Header.Revision
			cur = &next
			fn(cur)
			return
		}
		next := cur.clone()
		var c, a, q bool
		for _, ev := range wr.Events {
			switch s.applySecurityEvent(next, ev) {
			case "scram":
				c = true
			case "acls":
				a = true
			case "quotas":
				q = true
			}
		}
		next.Revision = wr.Header.Revision
		next.build(c, a, q)
		cur = next
		fn(next)
	}
	return s.readThenWatch(ctx, s.keys.security(), "security", read, apply)
}

// RequestSecurityProgress asks etcd to tell WatchSecurity the revision it
// has seen everything up to, even when nothing under security/ changed
// since: its next Security then has that Revision. Callers that wait for a
// revision (a broker answering a change it made) use it so as not to wait
// for the next change.
func (s *Store) RequestSecurityProgress(ctx context.Context) error {
	// The watch runs on the client's stream of WithRequireLeader contexts.
	return s.client.RequestProgress(clientv3.WithRequireLeader(ctx))
}

func (sec *Security) clone() *Security {
	c := *sec
	c.creds = maps.Clone(sec.creds)
	c.acls = maps.Clone(sec.acls)
	c.quotas = maps.Clone(sec.quotas)
	return &c
}

// applySecurityEvent applies one put or delete under security/ to sec's
// maps and returns the kind of key it changed ("scram", "acls", "quotas").
// A value that does not decode is logged and treated as absent.
func (s *Store) applySecurityEvent(sec *Security, ev *clientv3.Event) string {
	key := string(ev.Kv.Key)
	kind, _, _ := strings.Cut(strings.TrimPrefix(key, s.keys.security()), "/")
	del := ev.Type == mvccpb.DELETE
	bad := func(err error) {
		s.log.Warn("metadata: undecodable value under security/", "key", key, "error", err)
	}
	switch kind {
	case "scram":
		applyKV(sec.creds, key, del, ev.Kv, bad, func(kv *mvccpb.KeyValue) (credentialEntry, error) {
			user, c, err := s.decodeCredential(kv)
			return credentialEntry{user: user, cred: c}, err
		})
	case "acls":
		applyKV(sec.acls, key, del, ev.Kv, bad, decodeACL)
	case "quotas":
		applyKV(sec.quotas, key, del, ev.Kv, bad, decodeQuota)
	}
	return kind
}

// build sets the exported fields of the kinds named from the maps.
func (sec *Security) build(creds, acls, quotas bool) {
	if creds {
		sec.Credentials = map[string][]auth.Credential{}
		for _, key := range slices.Sorted(maps.Keys(sec.creds)) {
			e := sec.creds[key]
			sec.Credentials[e.user] = append(sec.Credentials[e.user], e.cred)
		}
		for _, cs := range sec.Credentials {
			sortCredentials(cs)
		}
	}
	if acls {
		sec.ACLs = make([]acl.Binding, 0, len(sec.acls))
		for _, key := range slices.Sorted(maps.Keys(sec.acls)) {
			sec.ACLs = append(sec.ACLs, sec.acls[key])
		}
	}
	if quotas {
		sec.Quotas = make([]QuotaEntry, 0, len(sec.quotas))
		for _, key := range slices.Sorted(maps.Keys(sec.quotas)) {
			sec.Quotas = append(sec.Quotas, sec.quotas[key])
		}
	}
}
