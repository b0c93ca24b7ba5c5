package quota

// part is a Component by value, so that entities can be compared and used
// as map keys (Entity holds pointers).
type part struct {
	set, def bool
	name     string
}

func partOf(c *Component) part {
	if c == nil {
		return part{}
	}
	if c.Default {
		return part{set: true, def: true}
	}
	return part{set: true, name: c.Name}
}

type entityKey struct{ user, client part }

// scope says which names a sensor is kept per, as Kafka's quota metric
// tags do.
type scope uint8

const (
	scopeUser       scope = 1 << iota // per user name
	scopeClient                       // per client id
	scopeUserClient = scopeUser | scopeClient
)

// level is one step of Kafka's precedence: the entity to look for, and
// whose names the rate is then tracked per.
type level struct {
	user, client func(user, clientID string) part
	scope        scope
}

func named(user, _ string) part    { return part{set: true, name: user} }
func namedClient(_, c string) part { return part{set: true, name: c} }
func deflt(_, _ string) part       { return part{set: true, def: true} }
func absent(_, _ string) part      { return part{} }

// levels is Kafka's order of precedence, most specific first, with the
// metric tags DefaultQuotaCallback gives each: the rate of a quota set on
// /users/<default> is still tracked per user, and one set on a client-id
// level per client id only (shared by all users of that client id).
var levels = [...]level{
	{named, namedClient, scopeUserClient}, // /users/<user>/clients/<client-id>
	{named, deflt, scopeUserClient},       // /users/<user>/clients/<default>
	{named, absent, scopeUser},            // /users/<user>
	{deflt, namedClient, scopeUserClient}, // /users/<default>/clients/<client-id>
	{deflt, deflt, scopeUserClient},       // /users/<default>/clients/<default>
	{deflt, absent, scopeUser},            // /users/<default>
	{absent, namedClient, scopeClient},    // /clients/<client-id>
	{absent, deflt, scopeClient},          // /clients/<default>
}

// config is one immutable configuration; Manager swaps whole configs.
type config struct {
	entries map[entityKey]Quotas
}

func newConfig(all map[Entity]Quotas) *config {
	c := &config{entries: make(map[entityKey]Quotas, len(all))}
	for e, q := range all {
		if e.Validate() != nil {
			continue
		}
		k := entityKey{partOf(e.User), partOf(e.ClientID)}
		dst := c.entries[k]
		for name, v := range q {
			if !(v > 0) {
				continue
			}
			if dst == nil {
				dst = make(Quotas, len(q))
				c.entries[k] = dst
			}
			// Two Entity values with equal contents are one entity;
			// if they disagree, the stricter limit wins.
			if old, ok := dst[name]; !ok || v < old {
				dst[name] = v
			}
		}
	}
	return c
}

// sensorKey names one tracked rate.
type sensorKey struct {
	key          string
	user, client string
	scope        scope
}

// resolve finds the limit for key that applies to a connection of user
// and clientID, and the sensor its rate is tracked in.
func (c *config) resolve(key, user, clientID string) (float64, sensorKey, bool) {
	if len(c.entries) == 0 {
		return 0, sensorKey{}, false // no quotas: every request of every broker asks
	}
	for _, l := range levels {
		k := entityKey{l.user(user, clientID), l.client(user, clientID)}
		if k.user.set && !k.user.def && k.user.name == "" ||
			k.client.set && !k.client.def && k.client.name == "" {
			continue // no entity has an empty name
		}
		limit, ok := c.entries[k][key]
		if !ok {
			continue
		}
		sk := sensorKey{key: key, scope: l.scope}
		if l.scope&scopeUser != 0 {
			sk.user = user
		}
		if l.scope&scopeClient != 0 {
			sk.client = clientID
		}
		return limit, sk, true
	}
	return 0, sensorKey{}, false
}
