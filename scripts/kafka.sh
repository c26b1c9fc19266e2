#!/usr/bin/env bash
# Runs a real Apache Kafka (KRaft) cluster on 127.0.0.1 for Weir's tests.
# The broker jars come from Maven Central (scripts/kafka/pom.xml); each node is
# a combined broker+controller in its own JVM, so any one can be kill -9'd.
set -euo pipefail
set +m # no job control: a background node stays in our process group (see launch_node)

usage() {
	cat <<'EOF'
usage: scripts/kafka.sh COMMAND [ARGS]

commands:
  fetch                  resolve the broker jars into the cache (idempotent)
  start [--brokers N] [--plaintext-only]
                         start N combined broker+controller nodes (N=1 default;
                         1 or 3 recommended), wait until they answer metadata
                         requests, print the bootstrap address as the last line.
                         Each node also opens a SASL_SSL listener (a CA and
                         certificates made at start, SCRAM-SHA-512/256 and PLAIN
                         user "weir" with a random password); its address, CA
                         file and credentials are in $RUN/cluster.env
                         (SASL_SSL_BOOTSTRAP, SASL_CA, SASL_MECHANISM, SASL_USER,
                         SASL_PASSWORD) and printed before the bootstrap line.
  stop                   stop every node (TERM, then KILL), remove data dirs
  status                 print bootstrap address and PIDs; exit 0 if all nodes
                         are up, 2 if only some are, 1 if none / not started
  pids                   PIDs of the live nodes, one per line
  kill I                 kill -9 node I (1-based)
  restart I              start node I again with its config and data, and wait
                         until all nodes are live again
  logs [I]               print the paths of the broker logs (or of node I's)

environment:
  WEIR_KAFKA_CACHE       jar cache (default <repo>/.cache/kafka)
  WEIR_KAFKA_RUN         run state: configs, data, logs (default <repo>/.cache/kafka-run)
  WEIR_KAFKA_VERSION     Kafka version (default: the one pinned in scripts/kafka/pom.xml)
  WEIR_KAFKA_HEAP        max heap per node (default 512m)
  WEIR_KAFKA_TIMEOUT     seconds to wait for the cluster (default 90)
  WEIR_KAFKA_SECURITY    sasl_ssl (default: PLAINTEXT and SASL_SSL listeners) or
                         plaintext (PLAINTEXT only, as --plaintext-only)
  JAVA_HOME              Java 17+ to use (default: java on PATH)
EOF
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
KDIR="$SCRIPT_DIR/kafka"
POM="$KDIR/pom.xml"

pinned_version() {
	sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1
}

KAFKA_VERSION=${WEIR_KAFKA_VERSION:-$(pinned_version)}
CACHE=${WEIR_KAFKA_CACHE:-$ROOT/.cache/kafka}
LIBS="$CACHE/$KAFKA_VERSION/libs"
RUN=${WEIR_KAFKA_RUN:-$ROOT/.cache/kafka-run}
HEAP=${WEIR_KAFKA_HEAP:-512m}
TIMEOUT=${WEIR_KAFKA_TIMEOUT:-90}
SECURITY=${WEIR_KAFKA_SECURITY:-sasl_ssl}

die() {
	echo "kafka.sh: $*" >&2
	exit 1
}
say() { echo "kafka.sh: $*" >&2; }

java_bin() {
	if [[ -n "${JAVA_HOME:-}" ]]; then
		echo "$JAVA_HOME/bin/java"
	else
		command -v java || die "no java on PATH and JAVA_HOME unset (Kafka 4.x needs Java 17+)"
	fi
}

check_java() {
	local j major
	j=$(java_bin)
	[[ -x "$j" ]] || die "$j is not executable"
	# "openjdk version "17.0.15"" / "version "25""
	major=$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
	[[ -n "$major" && "$major" -ge 17 ]] ||
		die "Kafka $KAFKA_VERSION needs Java 17+, $j is version '${major:-unknown}' (set JAVA_HOME)"
}

# --- fetch -------------------------------------------------------------------

cmd_fetch() {
	if [[ -f "$LIBS/.complete" ]]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
	say "resolving Kafka $KAFKA_VERSION into $LIBS"
	mkdir -p "$CACHE/$KAFKA_VERSION"
	local tmp
	tmp=$(mktemp -d "$CACHE/$KAFKA_VERSION/libs.tmp.XXXXXX")
	# Resolve into a temp dir and rename, so an interrupted fetch is retried
	# rather than leaving a half-filled classpath behind.
	if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
		-Dkafka.version="$KAFKA_VERSION" \
		-DincludeScope=runtime \
		-DoutputDirectory="$tmp" >&2; then
		rm -rf "$tmp"
		die "mvn could not resolve Kafka $KAFKA_VERSION"
	fi
	[[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || {
		rm -rf "$tmp"
		die "kafka_2.13-$KAFKA_VERSION.jar missing after resolution"
	}
	touch "$tmp/.complete"
	rm -rf "$LIBS"
	mv "$tmp" "$LIBS"
	say "$(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

# --- run state ---------------------------------------------------------------
# $RUN/cluster.env   N, cluster id, ports (sourced by every command)
# $RUN/broker-I.properties, broker-I.pid, broker-I.log
# $RUN/data.XXXXXX/broker-I   log dirs (removed by stop)
# $RUN/bootstrap     the bootstrap address

load_state() {
	[[ -f "$RUN/cluster.env" ]] || return 1
	# shellcheck source=/dev/null
	source "$RUN/cluster.env"
}

# alive I: node I's recorded PID is a live Kafka JVM of this run (guards
# against PID reuse by matching the command line).
alive() {
	local pidf="$RUN/broker-$1.pid" pid
	[[ -f "$pidf" ]] || return 1
	pid=$(<"$pidf")
	[[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$RUN/broker-$1.properties"
}

free_ports() {
	# Bind all at once so the kernel hands out distinct ports; small race
	# with other processes between close and the broker's bind.
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# CLUSTER_ID_RE: Kafka's Uuid text form (URL-safe base64 of 16 bytes,
# unpadded) not starting with "-": kafka-storage reads "-t -xyz..." as a
# missing argument ("--cluster-id/-t: expected one argument"), which
# failed one start in 64; Kafka's own Uuid.randomUuid skips such ids too.
CLUSTER_ID_RE='^[A-Za-z0-9_][A-Za-z0-9_-]{21}$'

new_cluster_id() {
	local id="" try
	for try in 1 2 3 4 5 6 7 8; do
		id=$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())') ||
			die "python3 could not make a cluster id"
		if [[ "$id" =~ $CLUSTER_ID_RE ]]; then
			echo "$id"
			return 0
		fi
	done
	die "could not make a cluster id (python3 gave '$id' on try $try; want 22 URL-safe base64 characters, not starting with '-')"
}

write_config() {
	local i=$1 bport=$2 cport=$3 sport=${4:-}
	local rf=$N min_isr=1 extra_l="" extra_a=""
	if ((N >= 3)); then
		rf=3
		min_isr=2
	fi
	if [[ -n "$sport" ]]; then
		extra_l=",SASL_SSL://127.0.0.1:$sport"
		extra_a=",SASL_SSL://127.0.0.1:$sport"
	fi
	sed -e "s|@NODE_ID@|$i|g" \
		-e "s|@EXTRA_LISTENERS@|$extra_l|g" \
		-e "s|@EXTRA_ADVERTISED@|$extra_a|g" \
		-e "s|@VOTERS@|$VOTERS|g" \
		-e "s|@BROKER_PORT@|$bport|g" \
		-e "s|@CONTROLLER_PORT@|$cport|g" \
		-e "s|@DATA_DIR@|$DATA/broker-$i|g" \
		-e "s|@RF@|$rf|g" \
		-e "s|@MIN_ISR@|$min_isr|g" \
		"$KDIR/server.properties.tmpl" >"$RUN/broker-$i.properties"
	! grep -q '@[A-Z_]*@' "$RUN/broker-$i.properties" || die "unfilled placeholder in broker-$i.properties"
	if [[ -n "$sport" ]]; then
		cat >>"$RUN/broker-$i.properties" <<EOF

# SASL_SSL listener for clients that test TLS and SASL (scripts/kafka.sh).
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS_DIR/broker.p12
ssl.keystore.password=$KEYSTORE_PASSWORD
ssl.key.password=$KEYSTORE_PASSWORD
EOF
	fi
}

# make_tls: a CA and a certificate for 127.0.0.1/localhost signed by it,
# as PEM (ca.pem is what clients trust) and a PKCS12 keystore for the
# broker, in $TLS_DIR. Valid for a week; made anew at every start.
make_tls() {
	command -v openssl >/dev/null || die "openssl not found (needed for the SASL_SSL listener; or start --plaintext-only)"
	mkdir -p "$TLS_DIR"
	(
		cd "$TLS_DIR"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
			-subj "/CN=weir test CA" -keyout ca.key -out ca.pem \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >broker.ext
		openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 \
			-extfile broker.ext -out broker.pem
		openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
			-passout "pass:$KEYSTORE_PASSWORD" -out broker.p12
		chmod 600 ca.key broker.key broker.p12
	) >/dev/null 2>"$RUN/tls.log" || {
		cat "$RUN/tls.log" >&2
		die "making the test CA and broker certificate failed"
	}
}

random_secret() {
	python3 -c 'import secrets; print(secrets.token_urlsafe(18))'
}

# jvm_cmd fills JVM with the java command line shared by every node and tool.
jvm_cmd() {
	JVM=("$(java_bin)" -Xms64m -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
		-Dlog4j2.configurationFile="$KDIR/log4j2.xml"
		-cp "$LIBS/*")
}

format_node() {
	local i=$1
	[[ "${CLUSTER_ID:-}" =~ $CLUSTER_ID_RE ]] || die "refusing to format node $i with cluster id '${CLUSTER_ID:-}'"
	jvm_cmd
	local scram=()
	if [[ -n "${SASL_SSL_BOOTSTRAP:-}" ]]; then
		scram=(--add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]"
			--add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]")
	fi
	"${JVM[@]}" kafka.tools.StorageTool format --ignore-formatted \
		-t "$CLUSTER_ID" -c "$RUN/broker-$i.properties" "${scram[@]}" >>"$RUN/broker-$i.log" 2>&1
}

# LAUNCHED[I]: PID of node I started by this invocation (our child).
declare -a LAUNCHED=()

launch_node() {
	local i=$1
	# setsid: the node outlives this script and the caller's process group
	# (make, a test harness), and is only stopped through this script.
	# Without job control the child is no group leader, so setsid(1) does
	# not fork: $! is, once exec'd, the JVM itself, and our child, so
	# wait_ready can tell a slow start from an exit and read the exit
	# code. 9>&-: the JVM must not inherit (and hold) the lock.
	jvm_cmd
	setsid "${JVM[@]}" kafka.Kafka "$RUN/broker-$i.properties" </dev/null >>"$RUN/broker-$i.log" 2>&1 9>&- &
	LAUNCHED[i]=$!
	echo "${LAUNCHED[i]}" >"$RUN/broker-$i.pid"
}

probe_bin() {
	local bin="$RUN/probe"
	command -v go >/dev/null || die "go not found (needed to build scripts/kafka/probe)"
	(cd "$ROOT" && go build -o "$bin" ./scripts/kafka/probe) >&2 || die "building scripts/kafka/probe failed"
	echo "$bin"
}

show_logs_tail() {
	local i
	for ((i = 1; i <= N; i++)); do
		echo "----- tail of $RUN/broker-$i.log -----" >&2
		tail -n 40 "$RUN/broker-$i.log" >&2 2>/dev/null || true
	done
}

# wait_ready PROBE I...: wait until all N nodes are live brokers, or fail
# loudly; fails fast if one of the nodes I... (just launched) exits.
# A launched node counts as dead only once its process has exited: its
# command line may not name the node yet (the forked shell before exec,
# a launcher script), so alive() is no test of a node still starting.
wait_ready() {
	local probe=$1 start=$SECONDS i pp pid rc
	shift
	"$probe" -bootstrap "$BOOTSTRAP" -brokers "$N" -timeout "${TIMEOUT}s" 9>&- &
	pp=$!
	while running "$pp"; do
		for i in "$@"; do
			pid=${LAUNCHED[i]}
			if ! running "$pid"; then
				rc=0
				wait "$pid" || rc=$?
				kill "$pp" 2>/dev/null || true
				wait "$pp" 2>/dev/null || true
				show_logs_tail
				die "node $i (pid $pid) exited with code $rc $((SECONDS - start))s into startup (log $RUN/broker-$i.log)"
			fi
		done
		sleep 0.2
	done
	if ! wait "$pp"; then
		show_logs_tail
		die "cluster did not become ready within ${TIMEOUT}s"
	fi
	# Ready: by now each launched PID must be the node's JVM, which is
	# what status, kill and stop will look for.
	for i in "$@"; do
		alive "$i" || die "node $i: pid ${LAUNCHED[i]} answers but is not a JVM running $RUN/broker-$i.properties"
	done
	say "ready after $((SECONDS - start))s of waiting"
}

cmd_start() {
	local n=1
	while (($#)); do
		case $1 in
		--brokers)
			[[ $# -ge 2 ]] || die "--brokers needs a number"
			n=$2
			shift 2
			;;
		--brokers=*)
			n=${1#*=}
			shift
			;;
		--plaintext-only)
			SECURITY=plaintext
			shift
			;;
		--sasl-ssl)
			SECURITY=sasl_ssl
			shift
			;;
		*) die "start: unknown argument $1" ;;
		esac
	done
	[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "--brokers must be a positive number, got '$n'"
	((n == 1 || n >= 3)) || say "warning: $n nodes cannot survive losing one voter; use 1 or 3"

	if load_state; then
		local i
		for ((i = 1; i <= N; i++)); do
			if alive "$i"; then
				die "a cluster is already running in $RUN (scripts/kafka.sh stop first)"
			fi
		done
		say "removing stale state of a previous run"
		cleanup_state
	fi

	check_java
	cmd_fetch
	local probe
	probe=$(probe_bin)
	local t0=$SECONDS

	mkdir -p "$RUN"
	rm -f "$RUN"/broker-*.log "$RUN"/broker-*.properties
	N=$n
	CLUSTER_ID=$(new_cluster_id) || exit 1
	DATA=$(mktemp -d "$RUN/data.XXXXXX")
	local ports
	read -r -a ports <<<"$(free_ports $((3 * N)))"
	BROKER_PORTS=() CONTROLLER_PORTS=() SASL_SSL_PORTS=()
	VOTERS="" BOOTSTRAP="" SASL_SSL_BOOTSTRAP=""
	for ((i = 1; i <= N; i++)); do
		BROKER_PORTS+=("${ports[3 * (i - 1)]}")
		CONTROLLER_PORTS+=("${ports[3 * (i - 1) + 1]}")
		SASL_SSL_PORTS+=("${ports[3 * (i - 1) + 2]}")
		VOTERS+="${VOTERS:+,}$i@127.0.0.1:${CONTROLLER_PORTS[i - 1]}"
		BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:${BROKER_PORTS[i - 1]}"
	done
	case $SECURITY in
	sasl_ssl)
		for ((i = 1; i <= N; i++)); do
			SASL_SSL_BOOTSTRAP+="${SASL_SSL_BOOTSTRAP:+,}127.0.0.1:${SASL_SSL_PORTS[i - 1]}"
		done
		TLS_DIR="$DATA/tls"
		SASL_CA="$TLS_DIR/ca.pem"
		SASL_MECHANISM=SCRAM-SHA-512
		SASL_USER=weir
		SASL_PASSWORD=$(random_secret)
		KEYSTORE_PASSWORD=$(random_secret)
		make_tls
		;;
	plaintext) SASL_SSL_PORTS=() ;;
	*) die "WEIR_KAFKA_SECURITY=$SECURITY: use sasl_ssl or plaintext" ;;
	esac
	(
		umask 077 # it holds the SASL password
		echo "N=$N"
		echo "CLUSTER_ID=$CLUSTER_ID"
		echo "DATA=$DATA"
		echo "VOTERS=$VOTERS"
		echo "BOOTSTRAP=$BOOTSTRAP"
		echo "KAFKA_VERSION=$KAFKA_VERSION"
		if [[ -n "$SASL_SSL_BOOTSTRAP" ]]; then
			echo "SASL_SSL_BOOTSTRAP=$SASL_SSL_BOOTSTRAP"
			echo "SASL_CA=$SASL_CA"
			echo "SASL_MECHANISM=$SASL_MECHANISM"
			echo "SASL_USER=$SASL_USER"
			echo "SASL_PASSWORD=$SASL_PASSWORD"
		fi
	) >"$RUN/cluster.env"

	# A failed start leaves nothing running and no data behind, only logs.
	trap 'say "start failed, cleaning up"; cmd_stop' EXIT
	local pids=()
	for ((i = 1; i <= N; i++)); do
		: >"$RUN/broker-$i.log"
		write_config "$i" "${BROKER_PORTS[i - 1]}" "${CONTROLLER_PORTS[i - 1]}" "${SASL_SSL_PORTS[i - 1]:-}"
		format_node "$i" &
		pids+=($!)
	done
	for ((i = 1; i <= N; i++)); do
		wait "${pids[i - 1]}" || {
			show_logs_tail
			die "formatting node $i failed"
		}
	done
	for ((i = 1; i <= N; i++)); do
		launch_node "$i"
		say "node $i: pid $(<"$RUN/broker-$i.pid"), log $RUN/broker-$i.log"
	done
	wait_ready "$probe" $(seq 1 "$N")
	echo "$BOOTSTRAP" >"$RUN/bootstrap"
	trap - EXIT
	say "Kafka $KAFKA_VERSION, $N node(s), cluster $CLUSTER_ID, up in $((SECONDS - t0))s"
	print_secure
	echo "$BOOTSTRAP"
}

# print_secure: the SASL_SSL listener's facts, one "key: value" a line
# (the password stays in cluster.env, which only the owner can read).
print_secure() {
	[[ -n "${SASL_SSL_BOOTSTRAP:-}" ]] || return 0
	echo "sasl_ssl: $SASL_SSL_BOOTSTRAP"
	echo "sasl_ca: $SASL_CA"
	echo "sasl: $SASL_MECHANISM user $SASL_USER (password: SASL_PASSWORD in $RUN/cluster.env)"
}

# running PID: the process exists and is not a zombie (an unreaped zombie
# would otherwise look alive to kill -0 forever).
running() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n "$state" && "$state" != Z ]]
}

# stop_pids: TERM, wait up to 20 s, then KILL whatever is left.
stop_pids() {
	(($#)) || return 0
	kill -TERM "$@" 2>/dev/null || true
	local deadline=$((SECONDS + 20)) p left
	while ((SECONDS < deadline)); do
		left=0
		for p in "$@"; do
			if running "$p"; then left=1; fi
		done
		((left)) || return 0
		sleep 0.2
	done
	say "nodes still up after 20s, sending SIGKILL"
	kill -KILL "$@" 2>/dev/null || true
	for p in "$@"; do
		while running "$p"; do sleep 0.1; done
	done
}

cleanup_state() {
	if [[ -n "${DATA:-}" && "$DATA" == "$RUN"/data.* ]]; then
		rm -rf "$DATA"
	fi
	rm -f "$RUN"/broker-*.pid "$RUN/bootstrap" "$RUN/cluster.env"
}

cmd_stop() {
	load_state || {
		say "not running"
		return 0
	}
	local i pids=()
	for ((i = 1; i <= N; i++)); do
		if alive "$i"; then
			pids+=("$(<"$RUN/broker-$i.pid")")
		elif [[ -n "${LAUNCHED[i]:-}" ]] && running "${LAUNCHED[i]}"; then
			pids+=("${LAUNCHED[i]}") # a failed start's node, maybe not exec'd yet
		fi
	done
	stop_pids "${pids[@]}"
	cleanup_state
	say "stopped ${#pids[@]} node(s); logs kept in $RUN"
}

cmd_status() {
	load_state || {
		echo "not running"
		return 1
	}
	local i up=0
	echo "bootstrap: $BOOTSTRAP"
	print_secure
	for ((i = 1; i <= N; i++)); do
		if alive "$i"; then
			echo "broker $i: pid $(<"$RUN/broker-$i.pid")"
			up=$((up + 1))
		else
			echo "broker $i: down"
		fi
	done
	((up == N)) && return 0
	((up == 0)) && return 1
	return 2
}

cmd_pids() {
	load_state || return 1
	local i
	for ((i = 1; i <= N; i++)); do
		if alive "$i"; then cat "$RUN/broker-$i.pid"; fi
	done
}

node_arg() {
	load_state || die "no cluster started in $RUN"
	if ! [[ "${1:-}" =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > N)); then
		die "node must be 1..$N, got '${1:-}'"
	fi
}

cmd_kill() {
	node_arg "${1:-}"
	local i=$1 pid
	alive "$i" || die "node $i is not running"
	pid=$(<"$RUN/broker-$i.pid")
	kill -KILL "$pid"
	while running "$pid"; do sleep 0.05; done
	say "node $i (pid $pid) killed"
}

cmd_restart() {
	node_arg "${1:-}"
	local i=$1
	! alive "$i" || die "node $i is still running (pid $(<"$RUN/broker-$i.pid"))"
	check_java
	local probe t0=$SECONDS
	probe=$(probe_bin)
	echo "----- restart $(date -u +%FT%TZ) -----" >>"$RUN/broker-$i.log"
	launch_node "$i"
	say "node $i: pid $(<"$RUN/broker-$i.pid"), log $RUN/broker-$i.log"
	wait_ready "$probe" "$i"
	say "node $i back in $((SECONDS - t0))s"
	echo "$BOOTSTRAP"
}

cmd_logs() {
	load_state || die "no cluster started in $RUN"
	local i
	if [[ -n "${1:-}" ]]; then
		node_arg "$1"
		echo "$RUN/broker-$1.log"
		return
	fi
	for ((i = 1; i <= N; i++)); do echo "$RUN/broker-$i.log"; done
}

# lock: one mutating command at a time per run directory. Two starts
# that overlapped used to format each other's data ("Invalid cluster.id
# in meta.properties"); now the second waits and then finds the first's
# cluster. The lock is on fd 9, closed in every long-lived child.
lock() {
	mkdir -p "$RUN"
	exec 9>>"$RUN/lock"
	if ! flock -n 9; then
		say "waiting for another kafka.sh command on $RUN"
		flock -w "$((TIMEOUT + 60))" 9 || die "another kafka.sh command holds $RUN/lock"
	fi
}

main() {
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	start | stop | kill | restart) lock ;;
	esac
	case $cmd in
	fetch) cmd_fetch "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	pids) cmd_pids "$@" ;;
	kill) cmd_kill "$@" ;;
	restart) cmd_restart "$@" ;;
	logs) cmd_logs "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
