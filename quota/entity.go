package quota

// Entity names what a quota applies to, as ClientQuotaEntity does: a user,
// a client id, or both. A component that is set with Default true is the
// default for its kind ("<default>" in Kafka's tools); one that is not set
// does not take part.
type Entity struct {
	User     *Component `json:"user,omitempty"`
	ClientID *Component `json:"clientId,omitempty"`
}

// Component is one part of an Entity: a name, or the default.
type Component struct {
	Name    string `json:"name,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// The quota keys Kafka defines for clients, with the units of their values.
const (
	ProducerByteRate  = "producer_byte_rate" // bytes/s produced
	ConsumerByteRate  = "consumer_byte_rate" // bytes/s fetched
	RequestPercentage = "request_percentage" // % of one request thread's time
)

// Quotas are the values set for one entity, by key.
type Quotas map[string]float64
