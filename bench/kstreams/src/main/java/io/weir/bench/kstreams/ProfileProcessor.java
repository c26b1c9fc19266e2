package io.weir.bench.kstreams;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.processor.internals.InternalProcessorContext;
import org.apache.kafka.streams.processor.internals.ProcessorNode;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.internals.CachedStateStore;

/**
 * Keeps the profiles and fires the triggers: a port of Weir's profile/processor.go.
 *
 * <p>Emission is Weir's per-commit mode: the profile store is cached and its flush listener (the
 * mechanism behind the DSL's KTable emission) forwards the latest profile of each customer
 * changed since the last commit, when Kafka Streams flushes the cache at commit.
 *
 * <p>Cart timers fire whenever stream time moves, after the record that moved it (Weir runs its
 * stream-time hooks after every record). Kafka Streams punctuates stream time once per batch of
 * records, so the processor also runs the hook itself, lazily: when the first input of a new
 * record arrives, for the stream time the previous record left. Every valid record reaches this
 * processor (customers rows as ticks), so no stream-time step is missed.
 */
final class ProfileProcessor implements Processor<String, Input, String, ProfileProcessor.Out> {
    /** An output: a profile update or a trigger, as JSON. */
    record Out(boolean trigger, String json) {}

    static final long GRACE_MS = ProfileState.GRACE_MS;

    private ProcessorContext<String, Out> ctx;
    private KeyValueStore<String, ProfileState> profiles;
    private KeyValueStore<Bytes, byte[]> timers;

    // The record the buffered signals and items belong to.
    private String recTopic;
    private int recPartition = -1;
    private long recOffset = -1;
    private Set<String> afterView;
    private List<String> itemCats;
    private long recStreamTime = Long.MIN_VALUE; // stream time during the current record
    private long firedAt = Long.MIN_VALUE; // stream time timers were last checked at
    // No timer below this deadline is left: the next check scans from here, so a scan costs what
    // it finds rather than stepping over every deleted timer since the store began (RocksDB, like
    // Pebble, keeps tombstones until a compaction). A timer set below it lowers it (a late cart
    // event can arm a deadline stream time has passed already: it fires at the next check).
    private long scanFrom = Long.MIN_VALUE;

    @Override
    @SuppressWarnings({"unchecked", "rawtypes"})
    public void init(ProcessorContext<String, Out> context) {
        ctx = context;
        profiles = context.getStateStore(BenchTopology.STORE_PROFILES);
        timers = context.getStateStore(BenchTopology.STORE_CART_TIMERS);
        // Per-commit emission: forward what the cache flushes, as this node.
        InternalProcessorContext<String, Out> internal = (InternalProcessorContext<String, Out>) context;
        ProcessorNode<?, ?, ?, ?> self = internal.currentNode();
        boolean cached = ((CachedStateStore<String, ProfileState>) (CachedStateStore) profiles).setFlushListener(rec -> {
            ProfileState p = rec.value().newValue;
            if (p == null) {
                return;
            }
            ProcessorNode<?, ?, ?, ?> prev = internal.currentNode();
            internal.setCurrentNode(self);
            try {
                ctx.forward(new Record<>(rec.key(), new Out(false, Json.write(p.toMap(rec.key()))), p.updatedAt));
            } finally {
                internal.setCurrentNode(prev);
            }
        }, false);
        if (!cached) {
            throw new IllegalStateException(BenchTopology.STORE_PROFILES + " must be a cached store");
        }
        // After the last record before a commit (the lazy hook waits for the next record).
        context.schedule(Duration.ofMillis(1), PunctuationType.STREAM_TIME, this::afterRecord);
    }

    /** Fires cart timers due at stream time st, once per stream-time step. */
    private void afterRecord(long st) {
        if (st > firedAt) {
            firedAt = st;
            fireTimers(st);
        }
    }

    private void sameRecord() {
        Optional<RecordMetadata> m = ctx.recordMetadata();
        String topic = m.map(RecordMetadata::topic).orElse(null);
        int partition = m.map(RecordMetadata::partition).orElse(-1);
        long offset = m.map(RecordMetadata::offset).orElse(-1L);
        if (offset == recOffset && partition == recPartition && java.util.Objects.equals(topic, recTopic)) {
            return;
        }
        if (recStreamTime != Long.MIN_VALUE) {
            afterRecord(recStreamTime);
        }
        recTopic = topic;
        recPartition = partition;
        recOffset = offset;
        afterView = null;
        itemCats = null;
        recStreamTime = ctx.currentStreamTimeMs();
    }

    @Override
    public void process(Record<String, Input> rec) {
        sameRecord();
        Input in = rec.value();
        String id = rec.key();
        long st = ctx.currentStreamTimeMs();
        if (in.tick()) {
            return;
        }
        if (in.afterView() != null) {
            // Kafka Streams' join has no lateness check of its own (its window stores only
            // drop what is past retention): keep Weir's rule that the later side must come
            // while stream time <= purchase time + grace.
            if (st <= in.afterView().purchaseTime() + GRACE_MS) {
                if (afterView == null) {
                    afterView = new HashSet<>();
                }
                afterView.add(in.afterView().eventId());
            }
            return;
        }
        if (in.purchase() != null && in.item() >= 0) {
            if (itemCats == null) {
                itemCats = new ArrayList<>();
            }
            itemCats.add(in.itemCat());
            if (in.item() < in.purchase().items().size() - 1) {
                return; // wait for the event's last line item
            }
        }
        ProfileState.Applied e = new ProfileState.Applied(rec.timestamp(), st, in.segment(), in.country(),
                in.view(), in.purchase(), itemCats == null ? List.of() : itemCats, in.ticket(), afterView);
        afterView = null;
        itemCats = null;
        ProfileState s = profiles.get(id);
        if (s == null) {
            s = new ProfileState();
        }
        long oldDeadline = s.cartDeadline;
        List<ProfileState.Fired> fired = s.apply(e);
        s.cartDeadline = s.wantedDeadline();
        if (s.cartDeadline != oldDeadline) {
            setTimer(id, oldDeadline, s.cartDeadline);
        }
        profiles.put(id, s);
        String cause = in.view() != null ? in.view().eventId()
                : in.purchase() != null ? in.purchase().eventId() : in.ticket().eventId();
        for (ProfileState.Fired f : fired) {
            emit(id, f, s.version, s.updatedAt, cause);
        }
    }

    private void emit(String id, ProfileState.Fired f, long version, long firedAtMs, String cause) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("trigger_id", triggerId(id, f.type(), version));
        m.put("customer_id", id);
        m.put("type", f.type());
        m.put("fired_at", Json.rfc3339(firedAtMs));
        m.put("score", f.score());
        m.put("reason", f.reason());
        m.put("cause_event_id", cause);
        m.put("attributes", f.attributes());
        ctx.forward(new Record<>(id, new Out(true, Json.write(m)), firedAtMs));
    }

    static String triggerId(String customer, String type, long version) {
        return customer + ":" + type.toLowerCase(java.util.Locale.ROOT) + ":" + version;
    }

    // Timer keys: deadline (big-endian Unix ms, sign bit flipped so negatives sort first), then
    // the customer id.
    static Bytes timerKey(String id, long deadline) {
        byte[] c = id.getBytes(StandardCharsets.UTF_8);
        return Bytes.wrap(ByteBuffer.allocate(8 + c.length).putLong(deadline ^ Long.MIN_VALUE).put(c).array());
    }

    private void setTimer(String id, long old, long deadline) {
        if (old != 0) {
            timers.delete(timerKey(id, old));
        }
        if (deadline != 0) {
            timers.put(timerKey(id, deadline), new byte[0]);
            scanFrom = Math.min(scanFrom, deadline);
        }
    }

    /** Fires cart_abandoned for every cart whose deadline st has reached, in deadline then key order. */
    private void fireTimers(long st) {
        // Upper bound: the bare 8-byte deadline st+1, which sorts before every key with that deadline.
        Bytes to = Bytes.wrap(ByteBuffer.allocate(8).putLong((st + 1) ^ Long.MIN_VALUE).array());
        Bytes from = scanFrom == Long.MIN_VALUE ? null
                : Bytes.wrap(ByteBuffer.allocate(8).putLong(scanFrom ^ Long.MIN_VALUE).array());
        scanFrom = st + 1;
        List<Bytes> due = new ArrayList<>();
        try (KeyValueIterator<Bytes, byte[]> it = timers.range(from, to)) {
            while (it.hasNext()) {
                KeyValue<Bytes, byte[]> kv = it.next();
                if (kv.key.compareTo(to) < 0) {
                    due.add(kv.key);
                }
            }
        }
        for (Bytes k : due) {
            timers.delete(k);
            byte[] b = k.get();
            String id = new String(b, 8, b.length - 8, StandardCharsets.UTF_8);
            ProfileState s = profiles.get(id);
            if (s == null || s.cart.isEmpty()) {
                continue;
            }
            emit(id, s.cartAbandoned(), s.version, st, null);
        }
    }
}
