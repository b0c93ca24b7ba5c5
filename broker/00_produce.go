package broker

// Produce: v3-v12 (message format v2 only).
//
// Each partition's data must be exactly one v2 record batch. The batch header
// is validated (magic, length, CRC-32C, record count, max.message.bytes) and
// the records are not decoded, except on a compacted topic, where, as in
// Kafka, a record without a key gets INVALID_RECORD (with per-record errors
// from v8); they are read there through internal/batch's bounded decoder, so
// a compression bomb gets INVALID_RECORD too. A topic whose compression.type
// is not producer has every batch in another codec recompressed with its
// codec and level, as Kafka does (internal/batch.Recompress: the same bounded
// decoder, each record's bytes, offsets, timestamps and producer fields
// kept, the CRC recomputed); the result must fit max.message.bytes
// (MESSAGE_TOO_LARGE). Batches already in the topic's codec, and every batch
// of a producer topic, stay bytes. Idempotent batches are checked against the
// producer's last five batches: a retried batch is answered with its original
// offset, a sequence gap gets OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch
// INVALID_PRODUCER_EPOCH. Offsets are assigned and the batch is written to the
// WAL in request order (the ordered part of the handler), once the WAL has
// room: while it holds --wal-max-bytes (uploads are behind), the ordered part
// waits, at most the request's timeout, and then answers REQUEST_TIMED_OUT
// (Kafka's answer to a produce its timeout ran out on; clients retry). No
// lock is held across that wait. The response waits:
//   - acks=0: no response;
//   - acks=1: until the WAL fsync covering the batch;
//   - acks=-1: until the batch's segment is in the object store and its
//     manifest committed in etcd (the high watermark passed it).
// Produces to the internal topic __consumer_offsets are rejected
// (INVALID_TOPIC_EXCEPTION, as in Kafka). Each topic needs WRITE
// (TOPIC_AUTHORIZATION_FAILED for its partitions, before its existence is
// looked at).
//
// Transactional batches (issue 19) are accepted with the request's
// transactional id, which needs WRITE on the transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition otherwise, as
// in Kafka; for the partition, a transactional batch in a request without
// a transactional id); a
// transactional batch without a producer id is INVALID_RECORD, as is a
// control batch (only the broker writes markers, see txn_markers.go). A
// producer's first transactional batch on a partition since its last
// marker there is verified with its transaction coordinator
// (Txns.VerifyTxn: the transaction is ongoing with that producer id
// and epoch and has the partition) before it is appended, in the ordered
// part, holding no lock; the coordinator's error (INVALID_TXN_STATE,
// INVALID_PRODUCER_EPOCH, …) is the partition's. The producer epoch is
// fenced as for idempotence: a marker raises the epoch the partition
// knows, so an older-epoch batch after it gets INVALID_PRODUCER_EPOCH.
//
// Produce v12 is transaction version 2 (KIP-890 part 2) when the broker
// finalizes it: the producer's first transactional batch on a partition
// (since its last marker there, or of another epoch than its open
// transaction's there) adds the partition to the transaction instead of
// verifying it, and begins the transaction if none is ongoing
// (coordinator.Txns.AddImplicit, through etcd: this broker need not be the
// transaction coordinator). While the producer's previous transaction is
// still ending (its markers are being written: EndTxn v5 answers before
// that, and the producer goes straight on), the addition waits for it, at
// most half the request's timeout, as Kafka's leader does (KAFKA-18654):
// franz-go retries a produce that gets CONCURRENT_TRANSACTIONS only after
// a metadata refresh, seconds later. Its errors are Kafka's:
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH, CONCURRENT_TRANSACTIONS once
// the wait is over, and a coordinator that cannot be reached is
// NOT_ENOUGH_REPLICAS.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/wal"
)

// producedBatch is the outcome of the ordered part for one partition.
type producedBatch struct {
	t, p          int // indexes into the response
	part          *partition.Partition
	res           partition.AppendResult
	pending       *wal.Pending
	logAppendTime bool
}

func handleProduce(c *conn, kreq kmsg.Request) func(ctx context.Context) kmsg.Response {
	req := kreq.(*kmsg.ProduceRequest)
	b := c.srv
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if req.TransactionID != nil && !c.allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionID) {
		return func(context.Context) kmsg.Response {
			return produceError(req, resp, kerr.TransactionalIDAuthorizationFailed)
		}
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		return func(context.Context) kmsg.Response { return produceError(req, resp, kerr.InvalidRequiredAcks) }
	}
	// The request's timeout bounds both the wait for WAL room (here, in the
	// ordered part: the connection reads nothing more meanwhile, which is
	// the backpressure a producer feels) and the wait for its acks.
	deadline := time.Now().Add(time.Duration(max(req.TimeoutMillis, 1000)) * time.Millisecond)
	roomErr := b.waitWALRoom(c.ctx, deadline) // shutdown closes the WAL at once, which ends a wait
	var produced []producedBatch
	now := time.Now().UnixMilli()
	for ti, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := b.topics.Resolve(req.Version >= 13, rt.Topic, rt.TopicID)
		allowed := c.allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			p := t.Partition(rp.Partition)
			switch {
			case b.isClosing():
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case t.Meta.Name == metadata.OffsetsTopic:
				sp.ErrorCode = kerr.InvalidTopicException.Code // Kafka: no appends to an internal topic
			case roomErr != nil:
				sp.ErrorCode = kerrCode(roomErr)
			default:
				pb, err := b.produceOne(c.ctx, deadline, req.TransactionID, b.txnVersion(req.Version, 12), t, p, rp.Records, now)
				if err != nil {
					sp.ErrorCode = kerrCode(err)
					var re *recordsError // per-record errors and a message, written on v8+
					if errors.As(err, &re) {
						sp.ErrorRecords, sp.ErrorMessage = re.records, &re.message
					}
					if sp.ErrorCode == kerr.UnknownServerError.Code {
						b.log.Error("produce", "topic", t.Meta.Name, "partition", rp.Partition, "error", err)
					}
				} else {
					pb.t, pb.p = ti, len(st.Partitions)
					produced = append(produced, pb)
				}
			}
			b.metrics.produced.WithLabelValues(resultLabel(sp.ErrorCode)).Inc()
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return func(ctx context.Context) kmsg.Response {
		if req.Acks == 0 {
			return nil
		}
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		for _, pb := range produced {
			sp := &resp.Topics[pb.t].Partitions[pb.p]
			var err error
			if pb.pending != nil {
				switch err = pb.pending.Wait(ctx); {
				case err == nil:
				case ctx.Err() != nil:
					err = kerr.RequestTimedOut
				default:
					err = b.walFailed(err)
				}
			}
			if err == nil && req.Acks == -1 {
				err = pb.part.WaitCommitted(ctx, pb.res.Epoch, pb.res.Last)
			}
			if err != nil {
				sp.ErrorCode = kerrCode(err)
				continue
			}
			sp.BaseOffset = pb.res.Base
			logStart, _ := pb.part.Offsets()
			sp.LogStartOffset = logStart
			if pb.logAppendTime {
				sp.LogAppendTime = now
			}
		}
		return resp
	}
}

// produceOne validates one partition's records and appends them. txnID is
// the request's transactional id (nil: none) and tv its transaction
// version; a transactional batch is verified or added, until deadline, as
// the handler's doc says.
func (b *server) produceOne(ctx context.Context, deadline time.Time, txnID *string, tv int16, t *partition.Topic, p *partition.Partition, records []byte, now int64) (producedBatch, error) {
	h, err := batch.Validate(records)
	switch {
	case errors.Is(err, batch.ErrMagic):
		return producedBatch{}, kerr.UnsupportedForMessageFormat
	case errors.Is(err, batch.ErrInvalid) && h.Size() < len(records) && h.Size() > batch.HeaderSize:
		return producedBatch{}, kerr.InvalidRecord // more than one batch
	case err != nil:
		return producedBatch{}, kerr.CorruptMessage
	}
	if len(records) > t.Config.MaxMessageBytes {
		return producedBatch{}, kerr.MessageTooLarge
	}
	switch {
	case h.Control():
		return producedBatch{}, kerr.InvalidRecord
	case !h.Transactional():
	case txnID == nil:
		return producedBatch{}, kerr.TransactionalIDAuthorizationFailed // Kafka's answer
	case !h.Idempotent():
		return producedBatch{}, kerr.InvalidRecord
	case p.InTxnEpoch(h.ProducerID, h.ProducerEpoch):
	case tv >= 2:
		ctx, cancel := context.WithDeadline(ctx, deadline)
		err := b.txns.AddImplicit(ctx, *txnID, h.ProducerID, h.ProducerEpoch,
			[]metadata.TxnPartition{{Topic: t.Meta.Name, TopicID: t.Meta.ID, Partition: p.Key().Partition}}, nil)
		cancel()
		if err != nil {
			return producedBatch{}, implicitAddError(err)
		}
	default:
		ctx, cancel := context.WithDeadline(ctx, deadline)
		err := b.txns.VerifyTxn(ctx, *txnID, h.ProducerID, h.ProducerEpoch, t.Meta.Name, p.Key().Partition)
		cancel()
		if err != nil {
			return producedBatch{}, err
		}
	}
	if t.Config.Compacts {
		// Kafka's record validation of compacted topics: the one place
		// the produce path decodes records (bounded, see
		// checkCompactedRecords); other topics take the batch as bytes.
		if err := checkCompactedRecords(t.Meta.Name, p.Key().Partition, records); err != nil {
			return producedBatch{}, err
		}
	}
	if codec := t.Config.Compression; codec >= 0 && h.Codec() != codec && !h.Control() {
		// compression.type names a codec the batch is not in: recompress,
		// as Kafka does (the one other place the produce path decodes).
		var err error
		if records, h, err = recompress(t, p.Key().Partition, records); err != nil {
			return producedBatch{}, err
		}
	}
	lat := int64(-1)
	if t.Config.LogAppendTime {
		lat = now
	}
	var pending *wal.Pending
	res, err := p.Append(records, h, lat, b.walWrite(p, &pending))
	if err != nil {
		return producedBatch{}, b.appendError(err)
	}
	return producedBatch{part: p, res: res, pending: pending, logAppendTime: t.Config.LogAppendTime}, nil
}

// recompress rewrites records (one batch) with t's compression.type and
// level. A batch that does not decode within batch.MaxDecompressedBytes is
// INVALID_RECORD with the reason; one that is larger than max.message.bytes
// once recompressed is MESSAGE_TOO_LARGE, as in Kafka, found as the output
// grows (what is held stays near max.message.bytes).
func recompress(t *partition.Topic, part int32, records []byte) ([]byte, batch.Header, error) {
	out, err := batch.Recompress(records, t.Config.Compression, t.Config.CompressionLevel, t.Config.MaxMessageBytes)
	switch {
	case errors.Is(err, batch.ErrOutputTooLarge):
		return nil, batch.Header{}, kerr.MessageTooLarge
	case err != nil:
		return nil, batch.Header{}, &recordsError{message: fmt.Sprintf("The records of the batch for topic partition %s-%d cannot be recompressed: %v", t.Meta.Name, part, err)}
	}
	h, err := batch.Parse(out)
	if err != nil {
		return nil, batch.Header{}, err // cannot happen: Recompress wrote it
	}
	return out, h, nil
}

// implicitAddError maps the coordinator's answer to an implicit addition
// (transaction version 2) for a Produce or TxnOffsetCommit, as Kafka's
// leader maps AddPartitionsToTxn's: PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH; a coordinator that cannot be reached or is
// loading is NOT_ENOUGH_REPLICAS (retriable).
func implicitAddError(err error) error {
	switch err {
	case kerr.ProducerFenced:
		return kerr.InvalidProducerEpoch
	case kerr.CoordinatorNotAvailable, kerr.NotCoordinator, kerr.CoordinatorLoadInProgress:
		return kerr.NotEnoughReplicas
	}
	return err
}

// walWrite is the write function of p's appends: it writes the batch to
// the WAL under the leadership's epoch and sets *pending.
func (b *server) walWrite(p *partition.Partition, pending **wal.Pending) func(epoch int64, raw []byte) error {
	return func(epoch int64, raw []byte) error {
		hdr := tiering.AppendEntryHeader(make([]byte, 0, tiering.EntryHeaderSize), p.Key(), epoch)
		var err error
		*pending, err = b.wal.Write(hdr, raw)
		return err
	}
}

// appendError maps an append's error: a closed WAL is
// NOT_LEADER_OR_FOLLOWER, a failed one KAFKA_STORAGE_ERROR (walFailed).
func (b *server) appendError(err error) error {
	switch {
	case errors.Is(err, wal.ErrClosed):
		return kerr.NotLeaderForPartition
	case errors.Is(err, wal.ErrFailed):
		return b.walFailed(err)
	}
	return err
}

// waitWALRoom waits until the WAL has room for more records, at most until
// deadline: REQUEST_TIMED_OUT after it (the producer retries, nothing was
// appended), NOT_LEADER_OR_FOLLOWER if the WAL closes (shutdown),
// KAFKA_STORAGE_ERROR if it failed.
func (b *server) waitWALRoom(ctx context.Context, deadline time.Time) error {
	if st := b.wal.Stats(); st.LiveBytes <= st.MaxBytes {
		return nil // the usual case: no timer to arm (Write reports a closed or failed WAL)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	start := time.Now()
	err := b.wal.WaitRoom(ctx)
	if d := time.Since(start); d > time.Millisecond {
		b.metrics.walRoomWait.Observe(d.Seconds())
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wal.ErrClosed):
		return kerr.NotLeaderForPartition
	case errors.Is(err, wal.ErrFailed):
		return b.walFailed(err)
	}
	return kerr.RequestTimedOut
}

func produceError(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, kerrv *kerr.Error) kmsg.Response {
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerrv.Code
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		return nil
	}
	return resp
}

func resultLabel(code int16) string {
	if code == 0 {
		return "ok"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		var ke *kerr.Error
		if errors.As(e, &ke) {
			return ke.Message
		}
	}
	return "unknown"
}

// walFailed handles a WAL that can no longer write (a full or failing disk):
// what it acknowledged is safe, every later produce gets KAFKA_STORAGE_ERROR,
// and the broker stops advertising readiness so that it is restarted, which
// recovers the WAL.
func (b *server) walFailed(err error) error {
	if b.ready.CompareAndSwap(true, false) {
		b.log.Error("WAL failed; produces get KAFKA_STORAGE_ERROR until this broker restarts", "error", err)
	}
	return kerr.KafkaStorageError
}
