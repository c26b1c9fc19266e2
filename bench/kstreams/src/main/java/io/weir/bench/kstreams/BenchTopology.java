package io.weir.bench.kstreams;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.processor.api.ContextualFixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowBytesStoreSupplier;
import org.apache.kafka.streams.state.internals.RocksDbWindowBytesStoreSupplier;

/**
 * Weir's profile topology (profile/topology.go), node for node, in Kafka Streams: page views,
 * purchase events and support tickets keyed by customer id; the purchase-after-view
 * stream-stream join wired first; views and line items enriched from the products global table;
 * everything left-joined with the customers table and folded by one processor into profiles
 * (written per commit) and triggers.
 */
public final class BenchTopology {
    /** Store names; they name the changelog topics. */
    public static final String STORE_PROFILES = "ks-profiles";
    public static final String STORE_CART_TIMERS = "ks-profile-cart-timers";
    public static final String STORE_CUSTOMERS = "ks-customers";
    public static final String STORE_PRODUCTS = "ks-products";
    public static final String JOIN_PURCHASE_VIEW = "ks-purchase-view";

    public static final Duration GRACE = Duration.ofMinutes(1);
    public static final Duration VIEW_BEFORE_PURCHASE = Duration.ofMinutes(30);
    /**
     * RocksDB segment length of the join's two window stores when not the default (retention
     * / 2 = 15.5 min): see bench/kstreams/README.md, "Window store segments".
     */
    public static final Duration JOIN_SEGMENT = Duration.ofHours(24);

    /** Topic names under a run prefix P: P.web_browsing and so on. */
    public record Topics(String views, String purchases, String tickets, String customers, String products,
                         String profiles, String triggers) {
        public static Topics withPrefix(String p) {
            String q = p.isEmpty() ? "" : p + ".";
            return new Topics(q + "web_browsing", q + "purchase_events", q + "support_tickets",
                    q + "customers", q + "products", q + "ks_profiles", q + "ks_triggers");
        }
    }

    private BenchTopology() {}

    public static Topology build(Topics t, SchemaSource schemas) {
        return build(t, schemas, false);
    }

    /** With defaultSegments the join stores are the DSL's defaults (15.5-minute segments). */
    public static Topology build(Topics t, SchemaSource schemas, boolean defaultSegments) {
        StreamsBuilder b = new StreamsBuilder();
        var key = Serdes.String();

        GlobalKTable<String, AvroSerde.Framed> products = b.globalTable(t.products(),
                Consumed.with(key, new AvroSerde(Kind.PRODUCT, schemas)).withName("products-source"),
                Materialized.as(STORE_PRODUCTS));
        // Not cached: every row reaches the profile processor as a tick (stream time moved).
        KTable<String, AvroSerde.Framed> customers = b.table(t.customers(),
                Consumed.with(key, new AvroSerde(Kind.CUSTOMER, schemas)).withName("customers-source")
                        .withTimestampExtractor(EventTime.CUSTOMERS),
                Materialized.<String, AvroSerde.Framed, KeyValueStore<Bytes, byte[]>>as(STORE_CUSTOMERS)
                        .withCachingDisabled());

        KStream<String, AvroSerde.Framed> views = b.stream(t.views(),
                Consumed.with(key, new AvroSerde(Kind.PAGE_VIEW, schemas)).withName("views-source")
                        .withTimestampExtractor(EventTime.EVENTS));
        KStream<String, AvroSerde.Framed> purchases = b.stream(t.purchases(),
                Consumed.with(key, new AvroSerde(Kind.PURCHASE_EVENT, schemas)).withName("purchases-source")
                        .withTimestampExtractor(EventTime.EVENTS));
        KStream<String, AvroSerde.Framed> tickets = b.stream(t.tickets(),
                Consumed.with(key, new AvroSerde(Kind.SUPPORT_TICKET, schemas)).withName("tickets-source")
                        .withTimestampExtractor(EventTime.EVENTS));

        // The join first: its results reach the processor ahead of the event whose arrival
        // produced them (a source forwards to its children in the order they were added).
        KStream<String, PurchaseRef> bought = purchases
                .filter((id, v) -> "PURCHASE".equals(String.valueOf(v.record().get("type"))),
                        Named.as("profile-purchases-only"))
                // processValues rather than mapValues: the ref keeps the record's event time.
                .processValues(() -> new ContextualFixedKeyProcessor<String, AvroSerde.Framed, PurchaseRef>() {
                    @Override
                    public void process(FixedKeyRecord<String, AvroSerde.Framed> r) {
                        context().forward(r.withValue(PurchaseRef.of(r.value().record(), r.timestamp())));
                    }
                }, Named.as("profile-purchase-ref"));
        KStream<String, String> viewed = views
                .filter((id, v) -> !str(v.record(), "product_id").isEmpty(), Named.as("profile-product-views"))
                .mapValues((id, v) -> str(v.record(), "product_id"), Named.as("profile-view-ref"));
        JoinWindows window = JoinWindows.ofTimeDifferenceAndGrace(VIEW_BEFORE_PURCHASE, GRACE).after(Duration.ZERO);
        StreamJoined<String, PurchaseRef, String> joined = StreamJoined.with(key, new PurchaseRef.StoreSerde(), Serdes.String())
                .withName(JOIN_PURCHASE_VIEW).withStoreName(JOIN_PURCHASE_VIEW);
        if (!defaultSegments) {
            joined = joined.withThisStoreSupplier(joinStore(JOIN_PURCHASE_VIEW + "-left", window))
                    .withOtherStoreSupplier(joinStore(JOIN_PURCHASE_VIEW + "-right", window));
        }
        KStream<String, Input> signals = bought
                .join(viewed, (p, productId) -> p.products().contains(productId)
                        ? Input.ofAfterView(new Input.AfterView(p.eventId(), p.time())) : null, window, joined)
                .filter((id, in) -> in != null, Named.as("profile-same-product"));

        // The events themselves, enriched from the catalog.
        KStream<String, Input> viewIn = views.leftJoin(products,
                (id, v) -> str(v.record(), "product_id"), // "" rather than null: never joined
                (v, p) -> {
                    String cat = str(v.record(), "category");
                    if (cat.isEmpty() && p != null) {
                        cat = str(p.record(), "category");
                    }
                    return Input.ofView(Input.viewOf(v.record(), cat));
                },
                Named.as("profile-view-category"));
        KStream<String, Input> items = purchases.flatMapValues(v -> {
            Input.Purchase p = Input.purchaseOf(v.record());
            if (p.items().isEmpty()) {
                return List.of(Input.ofItem(p, -1));
            }
            List<Input> out = new ArrayList<>(p.items().size());
            for (int i = 0; i < p.items().size(); i++) {
                out.add(Input.ofItem(p, i));
            }
            return out;
        }, Named.as("profile-line-items"));
        KStream<String, Input> itemIn = items.leftJoin(products,
                (id, in) -> in.item() < 0 ? "" : in.purchase().items().get(in.item()).productId(),
                (in, p) -> p == null ? in : in.withItemCat(str(p.record(), "category")),
                Named.as("profile-item-category"));
        KStream<String, Input> ticketIn = tickets.mapValues(v -> Input.ofTicket(Input.ticketOf(v.record())),
                Named.as("profile-ticket"));

        KStream<String, Input> withCustomer = signals
                .merge(viewIn, Named.as("profile-inputs-views"))
                .merge(itemIn, Named.as("profile-inputs-items"))
                .merge(ticketIn, Named.as("profile-inputs-tickets"))
                .leftJoin(customers, (in, c) -> c == null ? in
                                : in.withCustomer(str(c.record(), "segment"), str(c.record(), "country")),
                        Joined.<String, Input, AvroSerde.Framed>as("profile-customer"));
        KStream<String, Input> ticks = customers.toStream(Named.as("profile-customer-rows"))
                .mapValues(c -> Input.ofTick(), Named.as("profile-tick"));

        b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE_PROFILES), key,
                new ProfileState.StoreSerde()).withCachingEnabled());
        b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE_CART_TIMERS),
                Serdes.Bytes(), Serdes.ByteArray()).withCachingEnabled());
        KStream<String, ProfileProcessor.Out> out = withCustomer
                .merge(ticks, Named.as("profile-all-inputs"))
                .process(ProfileProcessor::new, Named.as("profile"), STORE_PROFILES, STORE_CART_TIMERS);
        out.split(Named.as("profile-outputs-"))
                .branch((id, o) -> !o.trigger(), Branched.withConsumer(s -> s
                        .mapValues(ProfileProcessor.Out::json, Named.as("profile-update"))
                        .to(t.profiles(), Produced.with(key, Serdes.String()).withName("profiles-sink"))))
                .defaultBranch(Branched.withConsumer(s -> s
                        .mapValues(ProfileProcessor.Out::json, Named.as("profile-trigger"))
                        .to(t.triggers(), Produced.with(key, Serdes.String()).withName("triggers-sink"))));
        return b.build();
    }

    /** The DSL's join store (RocksDB, retention window + grace, duplicates kept) with JOIN_SEGMENT segments. */
    static WindowBytesStoreSupplier joinStore(String name, JoinWindows w) {
        return new RocksDbWindowBytesStoreSupplier(name, w.size() + w.gracePeriodMs(), JOIN_SEGMENT.toMillis(),
                w.size(), true, RocksDbWindowBytesStoreSupplier.WindowStoreTypes.DEFAULT_WINDOW_STORE);
    }

    /** What the join buffers of a purchase: its event id, time and products. */
    record PurchaseRef(String eventId, long time, List<String> products) {
        static PurchaseRef of(GenericRecord r, long time) {
            Input.Purchase p = Input.purchaseOf(r);
            List<String> ids = new ArrayList<>(p.items().size());
            for (Input.Item it : p.items()) {
                ids.add(it.productId());
            }
            return new PurchaseRef(p.eventId(), time, ids);
        }

        static final class StoreSerde implements Serde<PurchaseRef> {
            @Override
            public org.apache.kafka.common.serialization.Serializer<PurchaseRef> serializer() {
                return (topic, p) -> {
                    if (p == null) {
                        return null;
                    }
                    ByteArrayOutputStream buf = new ByteArrayOutputStream(64);
                    try (DataOutputStream out = new DataOutputStream(buf)) {
                        out.writeUTF(p.eventId());
                        out.writeLong(p.time());
                        out.writeInt(p.products().size());
                        for (String s : p.products()) {
                            out.writeUTF(s);
                        }
                    } catch (IOException e) {
                        throw new SerializationException("purchase ref: " + e, e);
                    }
                    return buf.toByteArray();
                };
            }

            @Override
            public org.apache.kafka.common.serialization.Deserializer<PurchaseRef> deserializer() {
                return (topic, data) -> {
                    if (data == null) {
                        return null;
                    }
                    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
                        String id = in.readUTF();
                        long time = in.readLong();
                        List<String> ids = new ArrayList<>();
                        for (int n = in.readInt(); n > 0; n--) {
                            ids.add(in.readUTF());
                        }
                        return new PurchaseRef(id, time, ids);
                    } catch (IOException e) {
                        throw new SerializationException("purchase ref: " + e, e);
                    }
                };
            }
        }
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
