"""Consume-transform-produce in transactions with confluent-kafka-python.

Used by e2e/txn_clients_test.go (TestTxnConsumeTransformProducePython). A
consumer in --group reads --input with read_committed; for each batch it
reads, a transactional producer (--transactional-id) begins a transaction,
produces one record per input record to --output (the input's key; the
input's value, "|" and the transaction's tag), waits for their delivery,
sends the consumed offsets to the transaction and commits it. After an
abort the consumer goes back to the group's committed offsets.

--abort-at N: the first transaction that begins once N input records are
committed is aborted on purpose, after its records were delivered.
--pause-at N[,M...]: at each stage, the first transaction that begins once
that many input records are committed and is to be committed pauses after
its records were delivered: the script prints a "paused" event with the
stage's index and waits for a line on stdin (the Go test SIGKILLs a broker
meanwhile) before it commits.

The script stops once the group's committed offsets (read back with
require_stable, as a read_committed consumer does) reach --ends
("partition:offset,..."). It prints one JSON object a line on stdout:
start, produced (records delivered in a transaction), txn (its outcome:
committed, aborted, or unknown when the client gave up), paused, log and
done. It exits non-zero when it cannot finish within --timeout seconds.
"""

import argparse
import json
import sys
import time

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def log(msg):
    emit(ev="log", msg=msg)


class ETL:
    def __init__(self, args):
        self.args = args
        self.ends = {}
        for pair in args.ends.split(","):
            p, o = pair.split(":")
            self.ends[int(p)] = int(o)
        self.progress = {p: 0 for p in self.ends}  # committed input offsets
        self.aborted_on_purpose = False
        self.stage = 0  # the next --pause-at stage
        self.incarnation = 0
        self.n = 0
        self.consumer = None
        self.producer = None

    def committed_records(self):
        return sum(self.progress.values())

    def new_consumer(self):
        if self.consumer is not None:
            try:
                self.consumer.close()
            except KafkaException as e:
                log("close consumer: %s" % e)
        self.consumer = Consumer(
            {
                "bootstrap.servers": self.args.bootstrap,
                "group.id": self.args.group,
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": self.args.session_timeout_ms,
                "heartbeat.interval.ms": max(1, self.args.session_timeout_ms // 6),
                "error_cb": lambda err: log("consumer: %s" % err),
            }
        )
        self.consumer.subscribe([self.args.input])

    def new_producer(self):
        if self.producer is not None:
            self.producer.flush(0)
        self.incarnation += 1
        self.producer = Producer(
            {
                "bootstrap.servers": self.args.bootstrap,
                "transactional.id": self.args.transactional_id,
                "error_cb": lambda err: log("producer: %s" % err),
            }
        )
        while True:  # InitProducerId: retried while a broker fails over
            try:
                self.producer.init_transactions(30)
                return
            except KafkaException as e:
                if not e.args[0].retriable():
                    raise
                log("init_transactions: %s" % e)

    def rewind(self):
        """Go back to the group's committed offsets."""
        try:
            assignment = self.consumer.assignment()
            committed = self.consumer.committed(assignment, timeout=30)
            for tp in committed:
                if tp.offset < 0:
                    tp.offset = OFFSET_BEGINNING
                self.consumer.seek(tp)
                if tp.offset >= 0:
                    self.progress[tp.partition] = max(self.progress[tp.partition], tp.offset)
        except KafkaException as e:
            log("rewind by seek failed (%s); joining the group again" % e)
            self.new_consumer()

    def finished(self):
        """Whether the group has committed everything (require_stable)."""
        tps = [TopicPartition(self.args.input, p) for p in self.ends]
        try:
            committed = self.consumer.committed(tps, timeout=10)
        except KafkaException as e:
            log("committed: %s" % e)
            return False
        for tp in committed:
            if tp.error is not None or tp.offset < self.ends[tp.partition]:
                return False
            self.progress[tp.partition] = max(self.progress[tp.partition], tp.offset)
        return True

    def end(self, tag, commit, deliberate):
        """Commits or aborts; returns the outcome."""
        while True:
            try:
                if commit:
                    self.producer.commit_transaction(30)
                    return "committed"
                self.producer.abort_transaction(30)
                return "aborted"
            except KafkaException as e:
                err = e.args[0]
                log("%s %s: %s" % ("commit" if commit else "abort", tag, err))
                if err.txn_requires_abort():
                    commit = False
                elif err.retriable():
                    continue
                else:
                    return "unknown"

    def transact(self, msgs):
        tag = "python-%d-%d" % (self.incarnation, self.n)
        self.n += 1
        delivered = [0]
        failed = [0]

        def on_delivery(err, _msg):
            if err is None:
                delivered[0] += 1
            else:
                failed[0] += 1

        next_offsets = {}
        try:
            self.producer.begin_transaction()
            for m in msgs:
                while True:
                    try:
                        self.producer.produce(
                            self.args.output,
                            key=m.key(),
                            value=m.value() + b"|" + tag.encode(),
                            on_delivery=on_delivery,
                        )
                        break
                    except BufferError:
                        self.producer.poll(0.1)
                next_offsets[m.partition()] = max(next_offsets.get(m.partition(), 0), m.offset() + 1)
            self.producer.flush(60)
        except KafkaException as e:
            log("produce %s: %s" % (tag, e))
            failed[0] += 1
        emit(ev="produced", tag=tag, acked=delivered[0])

        commit = failed[0] == 0 and delivered[0] == len(msgs)
        deliberate = commit and not self.aborted_on_purpose and self.committed_records() >= self.args.abort_at
        if deliberate:
            commit = False
        stages = self.args.pause_at
        if commit and self.stage < len(stages) and self.committed_records() >= stages[self.stage]:
            emit(ev="paused", stage=self.stage)
            self.stage += 1
            sys.stdin.readline()
        if commit:
            offsets = [TopicPartition(self.args.input, p, o) for p, o in sorted(next_offsets.items())]
            while True:
                try:
                    self.producer.send_offsets_to_transaction(offsets, self.consumer.consumer_group_metadata(), 30)
                    break
                except KafkaException as e:
                    err = e.args[0]
                    log("send_offsets_to_transaction %s: %s" % (tag, err))
                    if err.txn_requires_abort():
                        commit = False
                        break
                    if not err.retriable():
                        emit(ev="txn", tag=tag, outcome="unknown")
                        self.new_producer()
                        self.rewind()
                        return
        outcome = self.end(tag, commit, deliberate)
        emit(ev="txn", tag=tag, outcome=outcome, deliberate=deliberate)
        if outcome == "committed":
            for p, o in next_offsets.items():
                self.progress[p] = max(self.progress[p], o)
            return
        if deliberate and outcome == "aborted":
            self.aborted_on_purpose = True
        if outcome == "unknown":
            self.new_producer()
        self.rewind()

    def run(self):
        deadline = time.monotonic() + self.args.timeout
        self.new_consumer()
        self.new_producer()
        while time.monotonic() < deadline:
            msgs = self.consumer.consume(num_messages=self.args.batch, timeout=1.0)
            good = []
            for m in msgs:
                if m.error():
                    log("consume: %s" % m.error())
                else:
                    good.append(m)
            if not good:
                if self.finished():
                    return True
                continue
            try:
                self.transact(good)
            except KafkaException as e:
                # A fatal error: a new producer fences the old one.
                log("transaction: %s" % e)
                self.new_producer()
                self.rewind()
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--transactional-id", required=True)
    ap.add_argument("--ends", required=True, help="partition:end offset,... of the input")
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--session-timeout-ms", type=int, default=45000)
    ap.add_argument("--abort-at", type=int, default=0)
    ap.add_argument("--pause-at", type=lambda v: [int(n) for n in v.split(",")], default=[])
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()

    emit(ev="start", version=confluent_kafka.version()[0], librdkafka=confluent_kafka.libversion()[0])
    etl = ETL(args)
    ok = etl.run()
    try:
        etl.consumer.close()
    except KafkaException as e:
        log("close consumer: %s" % e)
    if etl.producer is not None:
        etl.producer.flush(10)
    if not ok:
        log("not finished within %ss" % args.timeout)
        sys.exit(1)
    emit(ev="done")


if __name__ == "__main__":
    main()
