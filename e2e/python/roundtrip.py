"""Produce records with confluent-kafka-python and read them back.

Used by e2e/clients_test.go (TestClientsConfluentKafkaPython). Reads one JSON
object per line on stdin: {"key": str, "value": str, "headers": [[str, str]]}.
Produces them in order to --topic with librdkafka's default producer settings
(acks=all, idempotence as librdkafka defaults it), then reads every partition
of the topic from the beginning with assign() and prints one JSON summary on
stdout; the Go test decides what is right. Exits non-zero only when the client
itself cannot run.
"""

import argparse
import json
import sys
import time

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def produce(args, records, errors):
    conf = {
        "bootstrap.servers": args.bootstrap,
        "error_cb": lambda err: errors.append("producer: %s" % err),
    }
    if args.compression:
        conf["compression.codec"] = args.compression
    producer = Producer(conf)

    delivered = [None] * len(records)

    def report(i):
        def on_delivery(err, msg):
            if err is not None:
                delivered[i] = {"error": str(err)}
            else:
                delivered[i] = {"partition": msg.partition(), "offset": msg.offset()}

        return on_delivery

    for i, r in enumerate(records):
        headers = [(k, v.encode()) for k, v in r["headers"]]
        while True:
            try:
                producer.produce(
                    args.topic,
                    key=r["key"].encode(),
                    value=r["value"].encode(),
                    headers=headers,
                    on_delivery=report(i),
                )
                break
            except BufferError:  # local queue full: serve delivery reports
                producer.poll(0.1)
        producer.poll(0)
    undelivered = producer.flush(args.timeout)
    return delivered, undelivered


def consume(args, want, errors):
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            # The Consumer cannot be created without a group.id, even with
            # assign(); nothing is committed, consumer groups come later.
            "group.id": "strata-e2e-roundtrip",
            "enable.auto.commit": False,
            "error_cb": lambda err: errors.append("consumer: %s" % err),
        }
    )
    try:
        md = consumer.list_topics(args.topic, timeout=args.timeout)
        topic = md.topics[args.topic]
        if topic.error is not None:
            errors.append("metadata: %s" % topic.error)
        partitions = sorted(topic.partitions)
        # Watermarks before assign(): once fetches are in flight, each query
        # waits behind a fetch long poll on the same connection.
        watermarks = {}
        for p in partitions:
            lo, hi = consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=args.timeout)
            watermarks[str(p)] = [lo, hi]
        consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in partitions])

        consumed = []
        deadline = time.monotonic() + args.timeout
        while len(consumed) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                errors.append("consume: %s" % msg.error())
                continue
            consumed.append(
                {
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "key": (msg.key() or b"").decode(),
                    "value": (msg.value() or b"").decode(),
                    "headers": [[k, (v or b"").decode()] for k, v in (msg.headers() or [])],
                }
            )
        return consumed, watermarks
    finally:
        consumer.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--compression", default="", help="compression.codec; default: librdkafka's")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per step")
    args = ap.parse_args()

    records = [json.loads(line) for line in sys.stdin if line.strip()]
    errors = []
    delivered, undelivered = produce(args, records, errors)
    consumed, watermarks = consume(args, len(records), errors)
    json.dump(
        {
            "version": confluent_kafka.version()[0],
            "librdkafka": confluent_kafka.libversion()[0],
            "delivered": [d if d is not None else {"error": "no delivery report"} for d in delivered],
            "undelivered": undelivered,
            "consumed": consumed,
            "watermarks": watermarks,
            "errors": errors,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
