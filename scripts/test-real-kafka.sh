#!/usr/bin/env bash
# Tier 3: runs the harness-using packages against real Apache Kafka.
# With KAFKA_BROKERS set it uses that cluster; otherwise it starts one
# with scripts/kafka.sh and stops it afterwards. A broker that cannot be
# started fails the run: this tier never skips itself.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "tier 3: no package uses internal/kafkatest" >&2
	exit 1
fi
if [ -z "${KAFKA_BROKERS:-}" ]; then
	trap 'scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
	if ! out=$(scripts/kafka.sh start); then
		echo "$out" >&2
		echo "tier 3: could not start Apache Kafka (needs Java 17+ and Maven; see scripts/kafka.sh)" >&2
		exit 1
	fi
	KAFKA_BROKERS=$(printf '%s\n' "$out" | tail -n 1)
	export KAFKA_BROKERS
fi
echo "tier 3: KAFKA_BROKERS=$KAFKA_BROKERS"
export KAFKA_BROKER_LOG=${KAFKA_BROKER_LOG:-$(ls "${WEIR_KAFKA_RUN:-.cache/kafka-run}"/broker-*.log 2>/dev/null | head -n 1 || true)}
go test -count=1 -p 1 "${pkgs[@]}"
