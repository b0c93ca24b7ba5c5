"""Drive Strata's config APIs with confluent-kafka-python's AdminClient.

Used by e2e/admin_clients_test.go (TestAdminClientsConfluentKafkaPython).
Reads one JSON object on stdin:

  {"topic": str,                     the topic to create
   "create": {name: value},          its configs at creation
   "replace": {name: value},         AlterConfigs' whole new set
   "bad": [[name, value]],           each tried in a CreateTopics of its own
   "bad_alter": [[name, value]],     each tried in an AlterConfigs of its own
   "broker_configs": [name]}         broker configs to report

and prints one JSON summary on stdout: what each step answered (configs as
{name: [value, source, is_default]}, errors as [code, name, message]); the
Go test decides what is right. Exits non-zero only when the client itself
cannot run. Every call is bounded by --timeout.
"""

import argparse
import json
import sys

import confluent_kafka
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic


def error_of(exc):
    """[code, name, message] of a KafkaException, or of another error."""
    if isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        return [err.code(), err.name(), err.str()]
    return [-1, type(exc).__name__, str(exc)]


def described(admin, resource, timeout):
    """{name: [value, source, is_default]} of one resource, or an error."""
    fut = admin.describe_configs([resource], request_timeout=timeout)[resource]
    try:
        entries = fut.result(timeout=timeout)
    except Exception as exc:  # the resource's error
        return {"error": error_of(exc)}
    out = {}
    for name, e in entries.items():
        src = getattr(e.source, "value", e.source)
        out[name] = [e.value, int(src), bool(e.is_default)]
    return {"configs": out}


def create(admin, topic, configs, timeout):
    """None on success, else [code, name, message]."""
    nt = NewTopic(topic, num_partitions=1, replication_factor=1, config=configs)
    fut = admin.create_topics([nt], request_timeout=timeout, operation_timeout=timeout)[topic]
    try:
        fut.result(timeout=timeout)
    except Exception as exc:
        return error_of(exc)
    return None


def alter(admin, topic, configs, timeout):
    """None on success, else [code, name, message]: AlterConfigs replaces
    the topic's whole set with configs."""
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config=configs)
    fut = admin.alter_configs([res], request_timeout=timeout)[res]
    try:
        fut.result(timeout=timeout)
    except Exception as exc:
        return error_of(exc)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()
    spec = json.load(sys.stdin)
    topic = spec["topic"]
    errors = []
    admin = AdminClient({
        "bootstrap.servers": args.bootstrap,
        "error_cb": lambda err: errors.append(str(err)),
    })
    md = admin.list_topics(timeout=args.timeout)
    brokers = sorted(md.brokers)

    out = {
        "version": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "incremental": hasattr(admin, "incremental_alter_configs"),
        "brokers": brokers,
    }
    topic_res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    out["create"] = create(admin, topic, spec["create"], args.timeout)
    out["created"] = described(admin, topic_res, args.timeout)
    out["replace"] = alter(admin, topic, spec["replace"], args.timeout)
    out["replaced"] = described(admin, topic_res, args.timeout)

    out["bad_create"] = []
    for i, (name, value) in enumerate(spec["bad"]):
        out["bad_create"].append(create(admin, "%s-bad-%d" % (topic, i), {name: value}, args.timeout))
    out["bad_alter"] = [alter(admin, topic, {name: value}, args.timeout) for name, value in spec["bad_alter"]]
    out["after_bad"] = described(admin, topic_res, args.timeout)

    broker = described(admin, ConfigResource(ConfigResource.Type.BROKER, str(brokers[0])), args.timeout)
    if "configs" in broker:
        broker["configs"] = {k: v for k, v in broker["configs"].items() if k in spec["broker_configs"]}
    out["broker"] = broker
    out["errors"] = errors
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
