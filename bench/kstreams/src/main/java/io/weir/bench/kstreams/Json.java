package io.weir.bench.kstreams;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/** JSON output in the shapes of Weir's events (encoding/json of events.ProfileUpdate, events.Trigger). */
final class Json {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {}

    /** Unix ms as RFC 3339 in UTC, fractional seconds only when not zero (as Go's time JSON). */
    static String rfc3339(long ms) {
        return Instant.ofEpochMilli(ms).toString();
    }

    /** Go's time.RFC3339 layout: whole seconds. */
    static String rfc3339Seconds(long ms) {
        return Instant.ofEpochMilli(ms).truncatedTo(ChronoUnit.SECONDS).toString();
    }

    static String write(Object v) {
        try {
            return MAPPER.writeValueAsString(v);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("json: " + e, e);
        }
    }
}
