package io.weir.bench.kstreams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchTopologyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path SCHEMAS = Path.of(System.getProperty("weir.schemas.dir", "../../events/schemas"));
    private static final BenchTopology.Topics T = BenchTopology.Topics.withPrefix("t");
    private static final Instant T0 = Instant.parse("2026-11-03T10:00:00Z");

    // Schema ids as a registry would hand them out.
    private static final Map<Kind, Integer> IDS = Map.of(
            Kind.PAGE_VIEW, 1, Kind.PURCHASE_EVENT, 2, Kind.SUPPORT_TICKET, 3, Kind.CUSTOMER, 4, Kind.PRODUCT, 5);

    @TempDir
    Path stateDir;

    private Map<Kind, Schema> schemas;
    private TopologyTestDriver driver;
    private TestInputTopic<String, byte[]> views, purchases, tickets, customers, products;
    private TestOutputTopic<String, String> profiles;
    private TestOutputTopic<String, String> triggers;
    private int eventSeq;

    @BeforeEach
    void setUp() throws IOException {
        MalformedCounter.reset();
        schemas = new java.util.EnumMap<>(Kind.class);
        for (Kind k : Kind.values()) {
            schemas.put(k, new Schema.Parser().parse(Files.readString(SCHEMAS.resolve(k.file))));
        }
    }

    @AfterEach
    void tearDown() {
        if (driver != null) {
            driver.close();
        }
    }

    private void start(SchemaSource source) {
        start(source, false);
    }

    private void start(SchemaSource source, boolean defaultSegments) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "bench-test");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, MalformedCounter.class);
        driver = new TopologyTestDriver(BenchTopology.build(T, source, defaultSegments), p, T0);
        var ks = new StringSerializer();
        var vs = new ByteArraySerializer();
        views = driver.createInputTopic(T.views(), ks, vs);
        purchases = driver.createInputTopic(T.purchases(), ks, vs);
        tickets = driver.createInputTopic(T.tickets(), ks, vs);
        customers = driver.createInputTopic(T.customers(), ks, vs);
        products = driver.createInputTopic(T.products(), ks, vs);
        profiles = driver.createOutputTopic(T.profiles(), new StringDeserializer(), new StringDeserializer());
        triggers = driver.createOutputTopic(T.triggers(), new StringDeserializer(), new StringDeserializer());
    }

    // ---- Avro records, Confluent-framed ----

    private byte[] framed(Kind k, GenericRecord r) {
        return new AvroSerde(k, (kind, id) -> r.getSchema()).encode(new AvroSerde.Framed(IDS.get(k), r));
    }

    private GenericRecord context(Schema owner, Instant at) {
        Schema ctx = owner.getField("context").schema();
        Schema dev = ctx.getField("device").schema();
        Schema loc = ctx.getField("location").schema();
        return new GenericRecordBuilder(ctx)
                .set("event_id", "e-" + (eventSeq++))
                .set("event_time", at.toEpochMilli())
                .set("device", new GenericRecordBuilder(dev)
                        .set("type", new GenericData.EnumSymbol(dev.getField("type").schema(), "MOBILE")).build())
                .set("location", new GenericRecordBuilder(loc).build())
                .build();
    }

    private void view(String customer, Instant at, String productId, String category) {
        Schema s = schemas.get(Kind.PAGE_VIEW);
        GenericRecord r = new GenericRecordBuilder(s)
                .set("context", context(s, at))
                .set("customer_id", customer)
                .set("url", "/x")
                .set("page_type", new GenericData.EnumSymbol(s.getField("page_type").schema(), "PRODUCT"))
                .set("product_id", productId)
                .set("category", category)
                .build();
        views.pipeInput(customer, framed(Kind.PAGE_VIEW, r), at);
    }

    private void purchase(String customer, Instant at, String type, long totalCents) {
        Schema s = schemas.get(Kind.PURCHASE_EVENT);
        Schema item = s.getField("items").schema().getElementType();
        GenericRecord r = new GenericRecordBuilder(s)
                .set("context", context(s, at))
                .set("customer_id", customer)
                .set("type", new GenericData.EnumSymbol(s.getField("type").schema(), type))
                .set("cart_id", "cart-" + customer)
                .set("items", List.of(new GenericRecordBuilder(item)
                        .set("product_id", "p1").set("quantity", 1).set("unit_price_cents", totalCents).build()))
                .set("total_cents", totalCents)
                .build();
        purchases.pipeInput(customer, framed(Kind.PURCHASE_EVENT, r), at);
    }

    private void ticket(String customer, Instant at) {
        tickets.pipeInput(customer, framed(Kind.SUPPORT_TICKET, ticketRecord(customer, at)), at);
    }

    private GenericRecord ticketRecord(String customer, Instant at) {
        Schema s = schemas.get(Kind.SUPPORT_TICKET);
        return new GenericRecordBuilder(s)
                .set("context", context(s, at))
                .set("customer_id", customer)
                .set("ticket_id", "t-" + customer)
                .set("status", new GenericData.EnumSymbol(s.getField("status").schema(), "OPENED"))
                .set("priority", new GenericData.EnumSymbol(s.getField("priority").schema(), "LOW"))
                .set("channel", new GenericData.EnumSymbol(s.getField("channel").schema(), "EMAIL"))
                .build();
    }

    private void customer(String id, Instant at, String segment, String country) {
        GenericRecord r = new GenericRecordBuilder(schemas.get(Kind.CUSTOMER))
                .set("customer_id", id).set("segment", segment).set("country", country)
                .set("signup_time", 0L).set("updated_at", at.toEpochMilli()).build();
        customers.pipeInput(id, framed(Kind.CUSTOMER, r), at);
    }

    private void product(String id, String category) {
        GenericRecord r = new GenericRecordBuilder(schemas.get(Kind.PRODUCT))
                .set("product_id", id).set("name", id).set("category", category).set("brand", "b")
                .set("price_cents", 100L).set("updated_at", 0L).build();
        products.pipeInput(id, framed(Kind.PRODUCT, r), T0);
    }

    private Map<String, JsonNode> latestProfiles() throws IOException {
        Map<String, JsonNode> out = new java.util.TreeMap<>();
        for (var kv : profiles.readKeyValuesToMap().entrySet()) {
            JsonNode n = JSON.readTree(kv.getValue());
            assertEquals(kv.getKey(), n.get("customer_id").asText(), "customer_id is the key");
            out.put(kv.getKey(), n);
        }
        return out;
    }

    private static List<String> strings(JsonNode arr) {
        List<String> l = new ArrayList<>();
        arr.forEach(n -> l.add(n.asText()));
        return l;
    }

    private static Instant at(int seconds) {
        return T0.plusSeconds(seconds);
    }

    // ---- tests ----

    @Test
    void profileFields() throws IOException {
        start(SchemaSource.fromDir(SCHEMAS));
        product("p1", "shoes");
        product("p2", "bags");
        product("p3", "toys");
        customer("c1", at(0), "vip", "DE");

        // c1 views: books x2 (own category), bags x2 (catalog), shoes x1 (catalog, its own
        // category empty), toys x1 (catalog); one view of an unknown product without category.
        view("c1", at(1), null, "books");
        view("c1", at(2), "p2", null);
        view("c1", at(3), "p1", "");
        view("c1", at(4), "p2", null);
        view("c1", at(5), "p2", "books"); // own category wins over the catalog's
        view("c1", at(6), "p3", null);
        view("c1", at(7), "p-missing", null);
        purchase("c1", at(8), "ADD_TO_CART", 500);
        purchase("c1", at(9), "PURCHASE", 1200);
        purchase("c1", at(10), "REMOVE_FROM_CART", -500);
        purchase("c1", at(11), "PURCHASE", 300);
        ticket("c1", at(12));
        // Malformed: not Confluent framing; magic 0 but truncated Avro; trailing bytes.
        views.pipeInput("c1", new byte[] {(byte) 0xff, 1, 2, 3}, at(13));
        purchases.pipeInput("c1", new byte[] {0, 0, 0, 0, 2, 2}, at(13));
        byte[] ok = framed(Kind.SUPPORT_TICKET, ticketRecord("c1", at(13)));
        byte[] trailing = java.util.Arrays.copyOf(ok, ok.length + 1);
        tickets.pipeInput("c1", trailing, at(13));
        // The customer row changes: the profile shows the row as of its last event.
        customer("c1", at(14), "regular", "FR");
        view("c1", at(15), null, "books");

        // c2 never has a row; c3's row comes after its first event.
        view("c2", at(20), "p1", null);
        ticket("c2", at(21));
        purchase("c3", at(22), "PURCHASE", 700);
        customer("c3", at(23), "new", "US");
        ticket("c3", at(24));

        Map<String, JsonNode> got = latestProfiles();
        JsonNode c1 = got.get("c1");
        assertNotNull(c1, "c1 has a profile");
        assertEquals(13, c1.get("version").asLong(), "c1 version: 8 views + 4 purchase events + 1 ticket");
        assertEquals(8, c1.get("views_total").asLong());
        assertEquals(2, c1.get("purchases").asLong());
        assertEquals(1500, c1.get("lifetime_value_cents").asLong());
        // books 3, bags 2, then shoes/toys tied at 1: shoes by name.
        assertEquals(List.of("books", "bags", "shoes"), strings(c1.get("top_categories")));
        assertEquals("regular", c1.get("segment").asText());
        assertEquals("FR", c1.get("country").asText());

        JsonNode c2 = got.get("c2");
        assertEquals(2, c2.get("version").asLong());
        assertEquals(List.of("shoes"), strings(c2.get("top_categories")));
        assertEquals("unknown", c2.get("segment").asText());
        assertEquals("ZZ", c2.get("country").asText());
        assertEquals(0, c2.get("purchases").asLong());

        JsonNode c3 = got.get("c3");
        assertEquals(2, c3.get("version").asLong());
        assertEquals(0, c3.get("views_total").asLong());
        assertEquals(1, c3.get("purchases").asLong());
        assertEquals(700, c3.get("lifetime_value_cents").asLong());
        assertEquals(List.of(), strings(c3.get("top_categories")));
        assertEquals("new", c3.get("segment").asText());
        assertEquals("US", c3.get("country").asText());

        assertEquals(3, MalformedCounter.total(), "malformed records counted");
        assertEquals(Map.of(T.views(), 1L, T.purchases(), 1L, T.tickets(), 1L), MalformedCounter.byTopic());
    }

    /**
     * Kafka Streams' join would pair a purchase arriving 8 minutes behind stream time with a
     * view before it (its stores keep 31 minutes); Weir's join drops it (stream time past
     * purchase time + 1 min grace), and so must the peer.
     */
    @Test
    void purchaseAfterViewKeepsWeirsLateness() throws IOException {
        start(SchemaSource.fromDir(SCHEMAS));
        product("p1", "shoes");
        view("c1", at(0), "p1", null);
        purchase("c1", at(60), "PURCHASE", 100); // on time: joined
        view("c2", at(100), "p1", null);
        view("c3", at(700), null, "books"); // stream time 700 s
        purchase("c2", at(200), "PURCHASE", 100); // 500 s late: not joined
        view("c4", at(750), "p1", null);
        view("c3", at(800), null, "books"); // stream time 800 s
        purchase("c4", at(760), "PURCHASE", 100); // 40 s late, within grace: joined
        Map<String, JsonNode> got = latestProfiles();
        assertTrue(got.get("c1").get("last_purchase_after_view").asBoolean(), "c1");
        assertEquals(false, got.get("c2").get("last_purchase_after_view").asBoolean(), "c2");
        assertTrue(got.get("c4").get("last_purchase_after_view").asBoolean(), "c4");
    }

    @Test
    void joinStoresKeepTheDslRetentionWithLongerSegments() {
        JoinWindows w = JoinWindows.ofTimeDifferenceAndGrace(Duration.ofMinutes(30), Duration.ofMinutes(1))
                .after(Duration.ZERO);
        var s = BenchTopology.joinStore("x", w);
        assertEquals(Duration.ofMinutes(31).toMillis(), s.retentionPeriod()); // window + grace, the DSL default
        assertEquals(Duration.ofMinutes(30).toMillis(), s.windowSize());
        assertEquals(Duration.ofHours(24).toMillis(), s.segmentIntervalMs());
        assertTrue(s.retainDuplicates());
    }

    /**
     * The scenario Weir's side wrote (bench/kstreams_test.go, which runs this test with
     * -Dweir.scenario=IN -Dweir.scenario.out=OUT): its records, in order, go through the
     * topology; the final profile of every customer and every trigger are written to OUT for the
     * Go side to compare with Weir's, field by field. Run once with each segment setting.
     */
    @Test
    void scenarioFromWeir() throws IOException {
        String in = System.getProperty("weir.scenario", "");
        Assumptions.assumeFalse(in.isEmpty(), "no -Dweir.scenario: run by bench/kstreams_test.go");
        Map<String, Object> result = new java.util.LinkedHashMap<>();
        for (boolean defaults : new boolean[] {false, true}) {
            if (driver != null) {
                driver.close();
            }
            start(SchemaSource.fromDir(SCHEMAS), defaults);
            Map<String, TestInputTopic<String, byte[]>> inputs = Map.of("web_browsing", views,
                    "purchase_events", purchases, "support_tickets", tickets, "customers", customers,
                    "products", products);
            int n = 0;
            for (String line : Files.readAllLines(Path.of(in))) {
                if (line.isBlank()) {
                    continue;
                }
                JsonNode r = JSON.readTree(line);
                TestInputTopic<String, byte[]> topic = inputs.get(r.get("topic").asText());
                assertNotNull(topic, "topic " + r.get("topic"));
                topic.pipeInput(r.get("key").asText(), java.util.Base64.getDecoder().decode(r.get("value").asText()),
                        Instant.ofEpochMilli(r.get("ts").asLong()));
                n++;
            }
            assertTrue(n > 0, "scenario has records");
            List<JsonNode> ps = new ArrayList<>(latestProfiles().values());
            List<JsonNode> ts = new ArrayList<>();
            for (String v : triggers.readValuesToList()) {
                ts.add(JSON.readTree(v));
            }
            assertTrue(!ps.isEmpty() && !ts.isEmpty(), "profiles and triggers written");
            result.put(defaults ? "default_segments" : "long_segments", Map.of("profiles", ps, "triggers", ts));
        }
        String out = System.getProperty("weir.scenario.out", "");
        if (!out.isEmpty()) {
            Files.writeString(Path.of(out), JSON.writeValueAsString(result));
        }
    }

    @Test
    void schemasFromRegistry() throws IOException {
        HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        List<String> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        http.createContext("/schemas/ids/", ex -> {
            String path = ex.getRequestURI().getPath();
            asked.add(path);
            int id = Integer.parseInt(path.substring(path.lastIndexOf('/') + 1));
            Kind k = IDS.entrySet().stream().filter(e -> e.getValue() == id).map(Map.Entry::getKey)
                    .findFirst().orElse(null);
            byte[] body;
            int status;
            if (k == null) {
                status = 404;
                body = "{\"error_code\":40403,\"message\":\"Schema not found\"}".getBytes(StandardCharsets.UTF_8);
            } else {
                status = 200;
                body = JSON.writeValueAsBytes(Map.of("schema", schemas.get(k).toString()));
            }
            ex.getResponseHeaders().add("Content-Type", "application/vnd.schemaregistry.v1+json");
            ex.sendResponseHeaders(status, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        http.start();
        try {
            start(SchemaSource.fromRegistry("http://127.0.0.1:" + http.getAddress().getPort()));
            product("p1", "shoes");
            customer("c1", at(0), "vip", "DE");
            view("c1", at(1), "p1", null);
            view("c1", at(2), "p1", null);
            // Schema id 99 is unknown to the registry: malformed, skipped.
            views.pipeInput("c1", new byte[] {0, 0, 0, 0, 99, 0}, at(3));
            JsonNode c1 = latestProfiles().get("c1");
            assertEquals(2, c1.get("version").asLong());
            assertEquals(List.of("shoes"), strings(c1.get("top_categories")));
            assertEquals("vip", c1.get("segment").asText());
            assertEquals(1, MalformedCounter.total());
            // Each id asked once: the schemas are cached.
            assertEquals(asked.size(), new java.util.HashSet<>(asked).size(), "asked: " + asked);
        } finally {
            http.stop(0);
        }
    }

    @Test
    void registryDownIsNotMalformed() {
        // A port with nothing listening: the decode must fail loudly, not be skipped.
        SchemaSource dead = SchemaSource.fromRegistry("http://127.0.0.1:9");
        AvroSerde serde = new AvroSerde(Kind.PAGE_VIEW, dead);
        RuntimeException e = assertThrows(RuntimeException.class, () -> serde.decode(new byte[] {0, 0, 0, 0, 1, 0}));
        assertEquals(SchemaSource.RegistryUnavailableException.class, e.getClass());
        assertThrows(SerializationException.class, () -> serde.decode(new byte[] {1, 0, 0, 0, 1, 0}));
    }

    @Test
    void storeSerdeRoundTrip() throws IOException {
        start(SchemaSource.fromDir(SCHEMAS));
        product("p1", "shoes");
        customer("c1", at(0), "vip", "DE");
        view("c1", at(1), "p1", null);
        purchase("c1", at(2), "ADD_TO_CART", 500);
        ticket("c1", at(3));
        ProfileState p = (ProfileState) driver.getKeyValueStore(BenchTopology.STORE_PROFILES).get("c1");
        assertNotNull(p);
        var serde = new ProfileState.StoreSerde();
        ProfileState q = serde.deserializer().deserialize("x", serde.serializer().serialize("x", p));
        assertEquals(Json.write(p.toMap("c1")), Json.write(q.toMap("c1")));
        assertEquals(p.cartDeadline, q.cartDeadline);
        assertEquals(p.windows.keySet(), q.windows.keySet());
        assertEquals(3, q.version);
        assertEquals(List.of("p1"), q.cart.keySet().stream().toList());
    }
}
