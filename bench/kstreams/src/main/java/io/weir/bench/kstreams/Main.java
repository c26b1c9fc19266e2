package io.weir.bench.kstreams;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * Runs the benchmark topology until SIGTERM.
 *
 * <pre>
 * java -jar weir-bench-kstreams.jar --bootstrap HOST:PORT --registry URL --prefix P --app-id ID
 *     --state-dir DIR [--transactional-state-stores] [--schemas-dir DIR] [--default-segments]
 * </pre>
 */
public final class Main {
    private static final String USAGE = "usage: java -jar weir-bench-kstreams.jar --bootstrap HOST:PORT"
            + " --registry URL --prefix P --app-id ID --state-dir DIR"
            + " [--transactional-state-stores] [--schemas-dir DIR] [--default-segments]";

    record Args(String bootstrap, String registry, String prefix, String appId, String stateDir,
                boolean transactionalStores, String schemasDir, boolean defaultSegments) {}

    public static void main(String[] argv) throws Exception {
        // Logs (stderr) quiet unless asked for with -Dorg.slf4j.simpleLogger.defaultLogLevel=info.
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        // Kafka logs every skipped record with a stack trace; MalformedCounter logs a sample.
        String rd = "org.slf4j.simpleLogger.log.org.apache.kafka.streams.processor.internals.RecordDeserializer";
        if (System.getProperty(rd) == null) {
            System.setProperty(rd, "error");
        }
        Args a;
        try {
            a = parse(argv);
        } catch (IllegalArgumentException e) {
            System.err.println("kstreams: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        SchemaSource schemas = a.schemasDir() != null
                ? SchemaSource.fromDir(Path.of(a.schemasDir()))
                : SchemaSource.fromRegistry(a.registry());
        BenchTopology.Topics topics = BenchTopology.Topics.withPrefix(a.prefix());
        Properties props = config(a);
        createOutputTopics(props, topics);
        Topology topology = BenchTopology.build(topics, schemas, a.defaultSegments());
        System.exit(run(topology, props));
    }

    static Args parse(String[] argv) {
        Map<String, String> v = new HashMap<>();
        boolean tx = false;
        // Also from the environment, so a harness run can try it without changing its command line.
        boolean defaultSegments = "1".equals(System.getenv("WEIR_BENCH_KS_DEFAULT_SEGMENTS"));
        for (int i = 0; i < argv.length; i++) {
            String f = argv[i];
            switch (f) {
                case "--transactional-state-stores" -> tx = true;
                case "--default-segments" -> defaultSegments = true;
                case "--bootstrap", "--registry", "--prefix", "--app-id", "--state-dir", "--schemas-dir" -> {
                    if (i + 1 >= argv.length) {
                        throw new IllegalArgumentException(f + " needs a value");
                    }
                    v.put(f, argv[++i]);
                }
                default -> throw new IllegalArgumentException("unknown argument " + f);
            }
        }
        List<String> missing = new ArrayList<>();
        for (String f : List.of("--bootstrap", "--prefix", "--app-id", "--state-dir")) {
            if (!v.containsKey(f)) {
                missing.add(f);
            }
        }
        if (!v.containsKey("--registry") && !v.containsKey("--schemas-dir")) {
            missing.add("--registry (or --schemas-dir)");
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("missing " + String.join(", ", missing));
        }
        return new Args(v.get("--bootstrap"), v.get("--registry"), v.get("--prefix"), v.get("--app-id"),
                v.get("--state-dir"), tx, v.get("--schemas-dir"), defaultSegments);
    }

    static Properties config(Args a) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.appId());
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap());
        p.put(StreamsConfig.STATE_DIR_CONFIG, a.stateDir());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, MalformedCounter.class);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        if (a.transactionalStores()) {
            // Exists in 4.4 (StreamsConfig.TRANSACTIONAL_STATE_STORES_CONFIG).
            p.put("enable.transactional.statestores", true);
        }
        return p;
    }

    /**
     * Creates the two output topics (profiles, triggers) (partitions as the views topic) if the harness did not, and
     * sets retention.ms=-1 on them: their record times are event times, which may be older
     * than the broker's retention, and the broker would delete them at once.
     */
    static void createOutputTopics(Properties props, BenchTopology.Topics t) throws Exception {
        Map<String, Object> ac = new HashMap<>();
        ac.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, props.get(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG));
        try (Admin admin = Admin.create(ac)) {
            int partitions = 1;
            try {
                TopicDescription d = admin.describeTopics(List.of(t.views())).allTopicNames()
                        .get(30, TimeUnit.SECONDS).get(t.views());
                partitions = d.partitions().size();
            } catch (ExecutionException e) {
                System.err.println("kstreams: cannot describe " + t.views() + ": " + e.getCause());
            }
            Map<ConfigResource, Collection<AlterConfigOp>> keep = new HashMap<>();
            for (String name : List.of(t.profiles(), t.triggers())) {
                try {
                    admin.createTopics(List.of(new NewTopic(name, partitions, (short) -1)
                                    .configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1"))))
                            .all().get(30, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                    keep.put(new ConfigResource(ConfigResource.Type.TOPIC, name), List.of(new AlterConfigOp(
                            new ConfigEntry(TopicConfig.RETENTION_MS_CONFIG, "-1"), AlterConfigOp.OpType.SET)));
                }
            }
            if (!keep.isEmpty()) {
                admin.incrementalAlterConfigs(keep).all().get(30, TimeUnit.SECONDS);
            }
        }
    }

    static int run(Topology topology, Properties props) throws InterruptedException {
        KafkaStreams streams = new KafkaStreams(topology, props);
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean announced = new AtomicBoolean();
        AtomicInteger exitCode = new AtomicInteger();

        RestoreTotals restored = new RestoreTotals();
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING && announced.compareAndSet(false, true)) {
                System.out.println("kstreams: restored " + restored.total() + " records in total");
                System.out.println("kstreams: running");
                System.out.flush();
            }
            if (now == KafkaStreams.State.ERROR) {
                exitCode.set(1);
                stopped.countDown();
            }
        });
        // Despite its name, this listener hears every store's restoration, not only global ones.
        streams.setGlobalStateRestoreListener(restored);
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("kstreams: fatal: " + e);
            exitCode.set(1);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });

        // SIGTERM (and SIGINT): close cleanly (commit, flush stores, checkpoint), then exit 0. A signal handler rather than a shutdown hook, so the exit code
        // says the close went through.
        sun.misc.SignalHandler stop = sig -> stopped.countDown();
        sun.misc.Signal.handle(new sun.misc.Signal("TERM"), stop);
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), stop);

        streams.start();
        stopped.await();
        // Leave the group: a restarted instance then need not wait out the session timeout.
        CloseOptions close = CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                .withTimeout(Duration.ofSeconds(60));
        if (!streams.close(close)) {
            System.err.println("kstreams: close timed out");
            exitCode.compareAndSet(0, 1);
        }
        printMalformed();
        return exitCode.get();
    }

    static void printMalformed() {
        System.out.println("kstreams: skipped " + MalformedCounter.total() + " malformed records "
                + MalformedCounter.byTopic());
        System.out.flush();
    }

    /**
     * Prints "kstreams: restored N records (store S TP: n)" per restored changelog partition,
     * N the running total over all stores.
     */
    static final class RestoreTotals implements StateRestoreListener {
        private final AtomicLong total = new AtomicLong();

        @Override
        public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}

        @Override
        public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long n) {}

        @Override
        public void onRestoreEnd(TopicPartition tp, String store, long n) {
            if (n == 0) {
                return;
            }
            long t = total.addAndGet(n);
            System.out.println("kstreams: restored " + t + " records (store " + store + " " + tp + ": " + n + ")");
            System.out.flush();
        }

        long total() {
            return total.get();
        }
    }
}
