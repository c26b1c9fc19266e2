package io.weir.bench.kstreams;

import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * Weir's event-time rule (profile/time.go): a record's time is its own field (context.event_time
 * of events, updated_at of customers rows); when the field is missing (not after the Unix epoch)
 * the record timestamp; a field more than MAX_FUTURE_SKEW ahead of the record timestamp is
 * clamped to it. A tombstone takes the record timestamp.
 */
final class EventTime implements TimestampExtractor {
    static final long MAX_FUTURE_SKEW_MS = 60_000L;

    private final boolean customers;

    private EventTime(boolean customers) {
        this.customers = customers;
    }

    /** For the three event topics: context.event_time. */
    static final EventTime EVENTS = new EventTime(false);
    /** For the customers table: updated_at. */
    static final EventTime CUSTOMERS = new EventTime(true);

    @Override
    public long extract(ConsumerRecord<Object, Object> rec, long partitionTime) {
        long rt = rec.timestamp();
        if (!(rec.value() instanceof AvroSerde.Framed f)) {
            return rt;
        }
        GenericRecord r = f.record();
        Object field = customers ? r.get("updated_at") : ((GenericRecord) r.get("context")).get("event_time");
        long at = field instanceof Long l ? l : 0;
        if (at <= 0) {
            return rt;
        }
        return Math.min(at, rt + MAX_FUTURE_SKEW_MS);
    }
}
