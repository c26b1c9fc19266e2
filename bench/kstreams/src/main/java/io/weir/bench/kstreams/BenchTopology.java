package io.weir.bench.kstreams;

import java.time.Duration;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowBytesStoreSupplier;
import org.apache.kafka.streams.state.internals.RocksDbWindowBytesStoreSupplier;

/**
 * The benchmark topology (bench.md): page views, purchase events and support tickets keyed by
 * customer id, views enriched from the products global table, every event joined with the
 * customers table, folded into one profile per customer; plus a 5-minute windowed view count.
 */
public final class BenchTopology {
    /** Store names; they name the changelog topics. */
    public static final String STORE_PROFILES = "ks-profiles";
    public static final String STORE_CUSTOMERS = "ks-customers";
    public static final String STORE_PRODUCTS = "ks-products";
    public static final String STORE_VIEWS_5M = "ks-views-5m";

    public static final Duration VIEW_WINDOW = Duration.ofMinutes(5);
    public static final Duration GRACE = Duration.ofMinutes(1);
    /**
     * RocksDB segment length of the windowed store. The default (retention / 2 = 3 min) opens
     * and drops one RocksDB instance per task every 3 minutes of event time; the benchmark
     * replays days of event time in minutes, so the stream thread spent most of its time in
     * RocksDB.open/close, transactions outlived transaction.timeout.ms (10 s), the broker
     * aborted them and the thread was fenced. Retention (what the store keeps and serves)
     * stays window + grace.
     */
    public static final Duration VIEW_SEGMENT = Duration.ofHours(1);

    /** Topic names under a run prefix P: P.web_browsing and so on. */
    public record Topics(String views, String purchases, String tickets, String customers, String products,
                         String profiles, String views5m) {
        public static Topics withPrefix(String p) {
            String q = p.isEmpty() ? "" : p + ".";
            return new Topics(q + "web_browsing", q + "purchase_events", q + "support_tickets",
                    q + "customers", q + "products", q + "ks_profiles", q + "ks_views_5m");
        }
    }

    private BenchTopology() {}

    public static Topology build(Topics t, SchemaSource schemas) {
        StreamsBuilder b = new StreamsBuilder();
        var key = Serdes.String();

        GlobalKTable<String, AvroSerde.Framed> products = b.globalTable(t.products(),
                Consumed.with(key, new AvroSerde(Kind.PRODUCT, schemas)).withName("products-source"),
                Materialized.as(STORE_PRODUCTS));
        KTable<String, AvroSerde.Framed> customers = b.table(t.customers(),
                Consumed.with(key, new AvroSerde(Kind.CUSTOMER, schemas)).withName("customers-source"),
                Materialized.as(STORE_CUSTOMERS));

        KStream<String, AvroSerde.Framed> views = b.stream(t.views(),
                Consumed.with(key, new AvroSerde(Kind.PAGE_VIEW, schemas)).withName("views-source"));
        KStream<String, AvroSerde.Framed> purchases = b.stream(t.purchases(),
                Consumed.with(key, new AvroSerde(Kind.PURCHASE_EVENT, schemas)).withName("purchases-source"));
        KStream<String, AvroSerde.Framed> tickets = b.stream(t.tickets(),
                Consumed.with(key, new AvroSerde(Kind.SUPPORT_TICKET, schemas)).withName("tickets-source"));

        // Views: the view's own category, else the catalog's category of its product.
        KStream<String, Event> viewEvents = views.leftJoin(products,
                // "" rather than null: a null lookup key is not joined the same way in every version.
                (id, v) -> str(v.record(), "product_id"),
                (v, p) -> {
                    String cat = str(v.record(), "category");
                    if (cat.isEmpty() && p != null) {
                        cat = str(p.record(), "category");
                    }
                    return Event.view(cat);
                },
                Named.as("views-category"));
        KStream<String, Event> purchaseEvents = purchases.mapValues(
                v -> Event.purchaseEvent("PURCHASE".equals(String.valueOf(v.record().get("type"))),
                        (Long) v.record().get("total_cents")),
                Named.as("purchase-events"));
        KStream<String, Event> ticketEvents = tickets.mapValues(v -> Event.ticket(), Named.as("ticket-events"));

        KStream<String, Event> withCustomer = viewEvents
                .merge(purchaseEvents, Named.as("merge-purchases"))
                .merge(ticketEvents, Named.as("merge-tickets"))
                .leftJoin(customers, (e, c) -> c == null ? e
                                : e.withCustomer(str(c.record(), "segment"), str(c.record(), "country")),
                        org.apache.kafka.streams.kstream.Joined.<String, Event, AvroSerde.Framed>as("customer-join"));

        withCustomer
                .groupByKey(Grouped.as("profiles"))
                .aggregate(Profile::new, (id, e, p) -> p.apply(e), Named.as("profile"),
                        Materialized.<String, Profile, KeyValueStore<Bytes, byte[]>>as(STORE_PROFILES)
                                .withKeySerde(key)
                                .withValueSerde(new Profile.StoreSerde()))
                .toStream(Named.as("profile-updates"))
                .mapValues((id, p) -> p.toJson(id), Named.as("profile-json"))
                .to(t.profiles(), Produced.with(key, Serdes.String()).withName("profiles-sink"));

        views
                .groupByKey(Grouped.as("views-by-customer"))
                .windowedBy(TimeWindows.ofSizeAndGrace(VIEW_WINDOW, GRACE))
                .count(Named.as("views-5m"), Materialized.<String, Long>as(viewsStore())
                        .withKeySerde(key)
                        .withValueSerde(Serdes.Long()))
                .toStream(Named.as("views-5m-updates"))
                .map((wk, n) -> KeyValue.pair(wk.key() + "@" + wk.window().start(), n), Named.as("views-5m-key"))
                .to(t.views5m(), Produced.with(key, Serdes.Long()).withName("views-5m-sink"));

        return b.build();
    }

    /**
     * The DSL's default store for the windowed count (RocksDB, timestamped, retention window +
     * grace) but with {@link #VIEW_SEGMENT} segments. The public Stores factories derive the
     * segment length from the retention; only the internal supplier takes it.
     */
    static WindowBytesStoreSupplier viewsStore() {
        return new RocksDbWindowBytesStoreSupplier(STORE_VIEWS_5M, VIEW_WINDOW.plus(GRACE).toMillis(),
                VIEW_SEGMENT.toMillis(), VIEW_WINDOW.toMillis(), false,
                RocksDbWindowBytesStoreSupplier.WindowStoreTypes.TIMESTAMPED_WINDOW_STORE);
    }

    /** A string or optional-string field; "" when null or absent. */
    static String str(GenericRecord r, String field) {
        if (r.getSchema().getField(field) == null) {
            return "";
        }
        Object v = r.get(field);
        return v == null ? "" : v.toString();
    }
}
