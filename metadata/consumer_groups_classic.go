package metadata

// ClassicMember is what a consumer group keeps of a member that uses the
// classic protocol (JoinGroup, SyncGroup, Heartbeat) inside a KIP-848
// consumer group, after an online upgrade: its session timeout and the
// protocols it joined with (their metadata is its
// ConsumerProtocolSubscription), so that its SyncGroup assignment can be
// serialized in the version it speaks and the group can be downgraded to a
// classic group again.
type ClassicMember struct {
	SessionTimeoutMs int32           `json:"sessionTimeoutMs"`
	Protocols        []GroupProtocol `json:"protocols"`
}
