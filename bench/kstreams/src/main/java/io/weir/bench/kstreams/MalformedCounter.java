package io.weir.bench.kstreams;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.errors.DeserializationExceptionHandler;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Skips records that do not decode and counts them per topic. A registry that cannot be reached
 * is not the record's fault: that fails the application instead of dropping data.
 *
 * <p>Kafka Streams instantiates this class by name, so the counts are process-wide.
 */
public final class MalformedCounter implements DeserializationExceptionHandler {
    private static final Logger LOG = LoggerFactory.getLogger(MalformedCounter.class);
    private static final Map<String, AtomicLong> BY_TOPIC = new ConcurrentHashMap<>();
    private static final AtomicLong TOTAL = new AtomicLong();

    @Override
    public void configure(Map<String, ?> configs) {}

    @Override
    public Response handleError(ErrorHandlerContext ctx, ConsumerRecord<byte[], byte[]> rec, Exception e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SchemaSource.RegistryUnavailableException) {
                LOG.error("cannot decode {}-{}@{}: {}", ctx.topic(), ctx.partition(), ctx.offset(), t.getMessage());
                return Response.fail();
            }
        }
        long n = TOTAL.incrementAndGet();
        BY_TOPIC.computeIfAbsent(ctx.topic(), t -> new AtomicLong()).incrementAndGet();
        if (n <= 10 || Long.bitCount(n) == 1) {
            LOG.warn("skipped malformed record {}-{}@{} ({} so far): {}",
                    ctx.topic(), ctx.partition(), ctx.offset(), n, e.getMessage());
        }
        return Response.resume();
    }

    /** Malformed records skipped since start (or the last reset). */
    public static long total() {
        return TOTAL.get();
    }

    public static Map<String, Long> byTopic() {
        Map<String, Long> m = new java.util.TreeMap<>();
        BY_TOPIC.forEach((k, v) -> m.put(k, v.get()));
        return m;
    }

    /** For tests. */
    static void reset() {
        TOTAL.set(0);
        BY_TOPIC.clear();
    }
}
