package io.weir.bench.kstreams;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/** The benchmark's subset of a customer profile, and the category counts behind top_categories. */
public final class Profile {
    /** Fallbacks when the customers table has no row (Weir's profile.UnknownSegment/Country). */
    public static final String UNKNOWN_SEGMENT = "unknown";
    public static final String UNKNOWN_COUNTRY = "ZZ";
    public static final int TOP_CATEGORIES = 3;

    long version;
    long viewsTotal;
    long purchases;
    long lifetimeValueCents;
    String segment = UNKNOWN_SEGMENT;
    String country = UNKNOWN_COUNTRY;
    final TreeMap<String, Long> categories = new TreeMap<>();

    /** Applies one event, as Weir's profile does (profile/state.go, apply). */
    Profile apply(Event e) {
        version++;
        if (e.segment() != null) {
            segment = e.segment();
            country = e.country();
        } else {
            segment = UNKNOWN_SEGMENT;
            country = UNKNOWN_COUNTRY;
        }
        switch (e.type()) {
            case VIEW -> {
                viewsTotal++;
                if (!e.category().isEmpty()) {
                    categories.merge(e.category(), 1L, Long::sum);
                }
            }
            case PURCHASE_EVENT -> {
                if (e.purchase()) {
                    purchases++;
                    lifetimeValueCents += e.totalCents();
                }
            }
            case TICKET -> {}
        }
        return this;
    }

    /** The 3 most viewed categories: count desc, then name asc. */
    List<String> topCategories() {
        List<Map.Entry<String, Long>> es = new ArrayList<>(categories.entrySet()); // name asc
        es.sort((a, b) -> Long.compare(b.getValue(), a.getValue())); // stable: ties keep name order
        List<String> top = new ArrayList<>(TOP_CATEGORIES);
        for (int i = 0; i < es.size() && i < TOP_CATEGORIES; i++) {
            top.add(es.get(i).getKey());
        }
        return top;
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The JSON value written to P.ks_profiles. */
    String toJson(String customerId) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("customer_id", customerId);
        m.put("version", version);
        m.put("views_total", viewsTotal);
        m.put("purchases", purchases);
        m.put("lifetime_value_cents", lifetimeValueCents);
        m.put("top_categories", topCategories());
        m.put("segment", segment);
        m.put("country", country);
        try {
            return JSON.writeValueAsString(m);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("profile json: " + e, e);
        }
    }

    /** The store's format: a small binary record (format byte 1). */
    public static final class StoreSerde implements Serde<Profile> {
        private static final byte FORMAT = 1;

        @Override
        public Serializer<Profile> serializer() {
            return (topic, p) -> {
                if (p == null) {
                    return null;
                }
                ByteArrayOutputStream buf = new ByteArrayOutputStream(64 + 16 * p.categories.size());
                try (DataOutputStream out = new DataOutputStream(buf)) {
                    out.writeByte(FORMAT);
                    out.writeLong(p.version);
                    out.writeLong(p.viewsTotal);
                    out.writeLong(p.purchases);
                    out.writeLong(p.lifetimeValueCents);
                    out.writeUTF(p.segment);
                    out.writeUTF(p.country);
                    out.writeInt(p.categories.size());
                    for (Map.Entry<String, Long> c : p.categories.entrySet()) {
                        out.writeUTF(c.getKey());
                        out.writeLong(c.getValue());
                    }
                } catch (IOException e) {
                    throw new SerializationException("profile store: " + e, e);
                }
                return buf.toByteArray();
            };
        }

        @Override
        public Deserializer<Profile> deserializer() {
            return (topic, data) -> {
                if (data == null) {
                    return null;
                }
                try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
                    byte f = in.readByte();
                    if (f != FORMAT) {
                        throw new SerializationException("profile store: format " + f + ", want " + FORMAT);
                    }
                    Profile p = new Profile();
                    p.version = in.readLong();
                    p.viewsTotal = in.readLong();
                    p.purchases = in.readLong();
                    p.lifetimeValueCents = in.readLong();
                    p.segment = in.readUTF();
                    p.country = in.readUTF();
                    int n = in.readInt();
                    for (int i = 0; i < n; i++) {
                        p.categories.put(in.readUTF(), in.readLong());
                    }
                    return p;
                } catch (IOException e) {
                    throw new SerializationException("profile store: " + e, e);
                }
            };
        }
    }
}
