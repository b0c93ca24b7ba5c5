// Package mirror is `strata mirror`: it copies topics (records, partition
// counts, configs) and consumer-group offsets from a source Kafka-compatible
// cluster to a target one, as MirrorMaker 2 does. docs/mirror.md is the
// user's guide.
//
// A Mirror's instances split the source partitions through a consumer
// group on the source (Config.Name, static membership by
// Config.InstanceID). Records are copied in rounds of at most
// Config.BatchRecords: produce every record to the same partition of the
// target topic, wait for the acknowledgements, write the offset syncs the
// round needs, then commit the progress:
//
//   - at least once (default): the source group's offsets, after the
//     target acknowledged; a crash repeats at most the round in flight;
//   - exactly once (Config.ExactlyOnce): the round's records, syncs and
//     progress in one target transaction, the progress as offsets of the
//     group Config.Name on the target (target topics, source offsets),
//     read at assignment to seek the source;
//   - preserved offsets (Config.PreserveOffsets): every record at its
//     source offset, the target partition's end being the progress.
//
// Offset syncs (type Sync) on the target topic
// __strata_mirror_offset_syncs.NAME map source offsets to target offsets
// exactly (a sync wherever the distance between them changes); OffsetMap
// translates the selected groups' committed offsets with them.
//
// Goroutines: Run owns the copy loop (poll, copy, commit; rebalances are
// held between rounds by kgo.BlockRebalanceOnPoll) and starts three, all
// stopped before it returns: the topic and group synchronisation
// (Config.SyncInterval), the lag measurement and progress line (every
// second), and the reader of the offset syncs. Mirror.mu guards the
// partitions' state and is never held across a request.
package mirror
