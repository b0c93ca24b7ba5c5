"""One member of a consumer group, with confluent-kafka-python.

Used by e2e/groups_clients_test.go (TestGroupClients). Subscribes to --topic
in --group with librdkafka's default assignors (range, roundrobin: the eager
protocol), a 6 s session timeout and a 1 s heartbeat, and commits by hand
after processing (at-least-once): every 200 ms, and in on_revoke before the
partitions go. Prints one JSON object per line on stdout, flushed at once,
so that the test sees everything the member did up to a SIGKILL:

  {"t": ns, "ev": "assigned" | "revoked" | "lost", "parts": [p, ...]}
  {"t": ns, "ev": "record", "p": p, "o": offset, "v": value}
  {"t": ns, "ev": "commit", "p": p, "o": next offset}   (acknowledged)
  {"t": ns, "ev": "error", "err": message}

t is time.time_ns(), the clock the Go members use as well. A record line is
printed before its offset is committed. SIGTERM closes the consumer, which
leaves the group; the Go test decides what is right.
"""

import argparse
import json
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

COMMIT_EVERY = 0.2


def emit(**event):
    event["t"] = time.time_ns()
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Member:
    def __init__(self, args):
        self.topic = args.topic
        self.pending = {}  # partition -> next offset, processed, not yet committed
        self.last_commit = time.monotonic()
        self.consumer = Consumer(
            {
                "bootstrap.servers": args.bootstrap,
                "group.id": args.group,
                "client.id": args.client_id,
                # The broker's group.min.session.timeout.ms is 6000, as Kafka's.
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                # At-least-once: offsets are committed after processing, below.
                "enable.auto.commit": False,
                # A new group reads from the start (librdkafka's default is the end).
                "auto.offset.reset": "earliest",
                "error_cb": lambda err: emit(ev="error", err="error_cb: %s" % err),
            }
        )

    def commit(self, only=None):
        offsets = [
            TopicPartition(self.topic, p, o)
            for p, o in sorted(self.pending.items())
            if only is None or p in only
        ]
        self.last_commit = time.monotonic()
        if not offsets:
            return
        try:
            done = self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            emit(ev="error", err="commit: %s" % e)
            return
        for tp in done:
            if tp.error is not None:
                emit(ev="error", err="commit partition %d: %s" % (tp.partition, tp.error))
                continue
            emit(ev="commit", p=tp.partition, o=tp.offset)
            if self.pending.get(tp.partition) == tp.offset:
                del self.pending[tp.partition]

    def on_assign(self, consumer, partitions):
        emit(ev="assigned", parts=sorted(tp.partition for tp in partitions))

    def on_revoke(self, consumer, partitions):
        revoked = {tp.partition for tp in partitions}
        self.commit(only=revoked)
        for p in revoked:
            self.pending.pop(p, None)
        emit(ev="revoked", parts=sorted(revoked))

    def on_lost(self, consumer, partitions):
        lost = {tp.partition for tp in partitions}
        for p in lost:
            self.pending.pop(p, None)
        emit(ev="lost", parts=sorted(lost))

    def run(self, stopping):
        self.consumer.subscribe(
            [self.topic], on_assign=self.on_assign, on_revoke=self.on_revoke, on_lost=self.on_lost
        )
        while not stopping():
            msg = self.consumer.poll(0.2)
            if msg is not None:
                if msg.error() is not None:
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        emit(ev="error", err="poll: %s" % msg.error())
                else:
                    emit(ev="record", p=msg.partition(), o=msg.offset(), v=msg.value().decode())
                    self.pending[msg.partition()] = msg.offset() + 1
            if time.monotonic() - self.last_commit >= COMMIT_EVERY:
                self.commit()
        self.commit()
        self.consumer.close()  # revokes (on_revoke) and leaves the group


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--client-id", required=True)
    args = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    Member(args).run(lambda: bool(stop))


if __name__ == "__main__":
    main()
