package broker

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
)

// maxRecordErrors bounds the per-record errors in one partition's Produce
// answer. Kafka lists every record, but a batch of tiny records within
// batch.MaxDecompressedBytes can hold millions; the partition's error
// message still counts them all.
const maxRecordErrors = 1000

// recordsError is INVALID_RECORD with what Produce v8+ carries beside it:
// the batch index and message of each offending record, and a message for
// the partition.
type recordsError struct {
	records []kmsg.ProduceResponseTopicPartitionErrorRecord
	message string
}

func (e *recordsError) Error() string { return e.message }
func (e *recordsError) Unwrap() error { return kerr.InvalidRecord }

// checkCompactedRecords is Kafka's validation of a batch for a compacted
// topic (cleanup.policy with compact): every record must have a key. It
// decodes the records (batch.NullKeys, a stream bounded by
// batch.MaxDecompressedBytes), so it also refuses records that do not decode
// or decompress past the limit, with INVALID_RECORD as Kafka refuses
// malformed records (not retriable: the same bytes never decode). The
// messages are Kafka's (LogValidator), so that clients show the same text.
func checkCompactedRecords(topic string, partition int32, records []byte) error {
	nulls, total, err := batch.NullKeys(records, maxRecordErrors)
	if err != nil {
		return &recordsError{message: fmt.Sprintf("The records of the batch for compacted topic partition %s-%d cannot be read: %v", topic, partition, err)}
	}
	if total == 0 {
		return nil
	}
	msg := fmt.Sprintf("Compacted topic cannot accept message without key in topic partition %s-%d.", topic, partition)
	e := &recordsError{records: make([]kmsg.ProduceResponseTopicPartitionErrorRecord, 0, len(nulls))}
	var shown []string
	for _, i := range nulls {
		r := kmsg.NewProduceResponseTopicPartitionErrorRecord()
		r.RelativeOffset, r.ErrorMessage = i, &msg
		e.records = append(e.records, r)
		if len(shown) < 3 {
			shown = append(shown, fmt.Sprintf("RecordError(batchIndex=%d, message='%s')", i, msg))
		}
	}
	e.message = fmt.Sprintf("One or more records have been rejected due to %d record errors in total, and only showing the first three errors at most: [%s]",
		total, strings.Join(shown, ", "))
	return e
}
