"""roundtrip.py with extra librdkafka settings, for TLS and SASL listeners.

Used by e2e/security_test.go (TestSecurityClients). Takes any number of
-X key=value librdkafka settings (as kcat does), such as
security.protocol=SASL_SSL or ssl.ca.location=FILE, adds them to every
Producer and Consumer that roundtrip.py creates, and runs roundtrip.py with
the remaining arguments: same input on stdin, same JSON summary on stdout.

An authentication failure (SASL or TLS) ends the script at once with a
message on stderr and exit status 3: librdkafka would otherwise retry until
roundtrip.py's timeouts, and the test would learn only that it timed out.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import confluent_kafka  # noqa: E402
import roundtrip  # noqa: E402


def with_settings(conf, extra):
    """conf with the extra settings, and an error_cb that stops on an
    authentication failure."""
    conf = {**conf, **extra}
    report = conf.get("error_cb", lambda err: None)

    def on_error(err):
        report(err)
        if err.code() in (confluent_kafka.KafkaError._AUTHENTICATION, confluent_kafka.KafkaError._SSL):
            sys.stderr.write("secure_roundtrip.py: authentication failed: %s\n" % err)
            sys.stderr.flush()
            os._exit(3)

    conf["error_cb"] = on_error
    return conf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    ap.add_argument("-X", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    args, rest = ap.parse_known_args()
    extra = {}
    for kv in args.settings:
        key, sep, value = kv.partition("=")
        if not sep:
            ap.error("-X %r: want key=value" % kv)
        extra[key] = value

    roundtrip.Producer = lambda conf: confluent_kafka.Producer(with_settings(conf, extra))
    roundtrip.Consumer = lambda conf: confluent_kafka.Consumer(with_settings(conf, extra))
    sys.argv = [sys.argv[0]] + rest
    roundtrip.main()


if __name__ == "__main__":
    main()
