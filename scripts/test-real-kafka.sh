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
# The SASL_SSL listener of the same cluster, for the secure-connection
# tests (internal/kafkatest.NewSecure): from scripts/kafka.sh's
# cluster.env when it describes KAFKA_BROKERS. Without them those tests
# fail, as tier 3 never skips.
if [ -z "${KAFKA_SASL_SSL_BROKERS:-}" ]; then
	env_file="${WEIR_KAFKA_RUN:-.cache/kafka-run}/cluster.env"
	if [ -r "$env_file" ]; then
		# shellcheck source=/dev/null
		eval "$(
			source "$env_file"
			if [ "${BOOTSTRAP:-}" = "$KAFKA_BROKERS" ] && [ -n "${SASL_SSL_BOOTSTRAP:-}" ]; then
				printf 'export KAFKA_SASL_SSL_BROKERS=%q KAFKA_SASL_CA=%q KAFKA_SASL_MECHANISM=%q KAFKA_SASL_USER=%q KAFKA_SASL_PASSWORD=%q\n' \
					"$SASL_SSL_BOOTSTRAP" "$SASL_CA" "$SASL_MECHANISM" "$SASL_USER" "$SASL_PASSWORD"
			fi
		)"
	fi
fi
echo "tier 3: KAFKA_SASL_SSL_BROKERS=${KAFKA_SASL_SSL_BROKERS:-(none: the secure-connection tests will fail)}"
export KAFKA_BROKER_LOG=${KAFKA_BROKER_LOG:-$(ls "${WEIR_KAFKA_RUN:-.cache/kafka-run}"/broker-*.log 2>/dev/null | head -n 1 || true)}
go test -count=1 -p 1 "${pkgs[@]}"
# The fault suite, shortened, on the same cluster (make chaos runs it in
# full on three nodes of its own). Not our broker to kill, so no broker
# fault; every worker fault runs, and a failed correctness check (a
# duplicate, a lost update, a wrong dead-letter count) fails the tier.
echo "tier 3: fault suite (bench/cmd/chaos, short)"
go run ./bench/cmd/chaos -brokers "$KAFKA_BROKERS" -events 30000
