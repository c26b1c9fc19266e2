package io.weir.bench.kstreams;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A customer's value in the profile store: the visible profile and the bookkeeping needed to
 * update it. A port of Weir's profile/state.go ({@code stored}, {@code apply}); every rule and
 * constant is the same, so both systems compute the same profile from the same input order.
 */
public final class ProfileState {
    public static final String UNKNOWN_SEGMENT = "unknown";
    public static final String UNKNOWN_COUNTRY = "ZZ";
    static final long VIEW_WINDOW_MS = 5 * 60_000L;
    static final long GRACE_MS = 60_000L;
    static final long CART_IDLE_MS = 30 * 60_000L;
    static final int HIGH_INTENT_VIEWS = 5;
    static final int RECENT_PRODUCTS = 10;
    static final int TOP_CATEGORIES = 3;

    // The profile (events.ProfileUpdate).
    long version;
    long updatedAt; // stream time, Unix ms
    long lastEventTime;
    String segment = UNKNOWN_SEGMENT;
    String country = UNKNOWN_COUNTRY;
    Long viewsWindowStart; // null: none
    long views5m;
    long viewsTotal;
    long purchases;
    long lifetimeValueCents;
    Long lastPurchaseTime; // null: none
    boolean lastPurchaseAfterView;
    boolean atRisk;
    /** Product id → line, sorted by product id as Weir's cart_items. */
    final TreeMap<String, CartLine> cart = new TreeMap<>();

    // Bookkeeping.
    final TreeMap<String, Long> categories = new TreeMap<>();
    /** The RECENT_PRODUCTS most recently viewed products, latest first (ties by id). */
    final List<Seen> recent = new ArrayList<>();
    /** Windows not yet closed by stream time, by start. */
    final TreeMap<Long, Window> windows = new TreeMap<>();
    /** Open ticket → latest sentiment. */
    final TreeMap<String, Double> tickets = new TreeMap<>();
    String lastPurchaseId = "";
    long cartActivity; // latest cart activity since the last purchase (0: none)
    long cartDeadline; // the cart timer's deadline (0: none)

    static final class CartLine {
        int quantity;
        long unitPriceCents;
        String category = "";
    }

    record Seen(String id, long at) {}

    static final class Window {
        long count;
        final TreeMap<String, Long> categories = new TreeMap<>();
    }

    /** A trigger fired by an event; id, customer, fired_at and cause are set by the caller. */
    record Fired(String type, double score, String reason, Map<String, String> attributes) {}

    /** One event as the profile sees it (Weir's {@code event}). */
    record Applied(long at, long st, String segment, String country, Input.View view, Input.Purchase purchase,
                   List<String> itemCats, Input.Ticket ticket, Set<String> afterView) {}

    static long windowStart(long ms) {
        return Math.floorDiv(ms, VIEW_WINDOW_MS) * VIEW_WINDOW_MS;
    }

    /** Applies e and returns the triggers it fires. */
    List<Fired> apply(Applied e) {
        version++;
        updatedAt = e.st();
        lastEventTime = e.at();
        if (e.segment() != null) {
            segment = e.segment();
            country = e.country();
        } else {
            segment = UNKNOWN_SEGMENT;
            country = UNKNOWN_COUNTRY;
        }
        List<Fired> fired = List.of();
        if (e.view() != null) {
            fired = applyView(e);
        } else if (e.purchase() != null) {
            applyPurchase(e);
        } else if (e.ticket() != null) {
            fired = applyTicket(e);
        }
        if (!lastPurchaseId.isEmpty() && e.afterView() != null && e.afterView().contains(lastPurchaseId)) {
            lastPurchaseAfterView = true;
        }
        return fired;
    }

    private List<Fired> applyView(Applied e) {
        viewsTotal++;
        Input.View v = e.view();
        String cat = v.category();
        if (!cat.isEmpty()) {
            categories.merge(cat, 1L, Long::sum);
        }
        if (!v.productId().isEmpty()) {
            seen(v.productId(), e.at());
        }
        // Windows: drop the closed ones; a view whose window is closed is late.
        windows.headMap(e.st() - VIEW_WINDOW_MS - GRACE_MS, true).clear(); // start+size+grace <= st
        long start = windowStart(e.at());
        if (start + VIEW_WINDOW_MS + GRACE_MS <= e.st()) {
            return List.of();
        }
        Window w = windows.computeIfAbsent(start, s -> new Window());
        w.count++;
        if (viewsWindowStart == null || start >= viewsWindowStart) {
            viewsWindowStart = start;
            views5m = w.count;
        }
        if (cat.isEmpty()) {
            return List.of();
        }
        if (w.categories.merge(cat, 1L, Long::sum) != HIGH_INTENT_VIEWS) {
            return List.of();
        }
        Map<String, String> attrs = new TreeMap<>();
        attrs.put("category", cat);
        attrs.put("window_start", Json.rfc3339Seconds(start));
        return List.of(new Fired("HIGH_INTENT", 1,
                HIGH_INTENT_VIEWS + " views of " + cat + " within 5 minutes", attrs));
    }

    /** A product pushed out can only come back with a later view (as Weir's seen). */
    private void seen(String product, long at) {
        boolean found = false;
        for (int i = 0; i < recent.size(); i++) {
            Seen s = recent.get(i);
            if (s.id().equals(product)) {
                recent.set(i, new Seen(product, Math.max(s.at(), at)));
                found = true;
            }
        }
        if (!found) {
            recent.add(new Seen(product, at));
        }
        recent.sort((a, b) -> a.at() != b.at() ? Long.compare(b.at(), a.at()) : a.id().compareTo(b.id()));
        while (recent.size() > RECENT_PRODUCTS) {
            recent.remove(recent.size() - 1);
        }
    }

    private void applyPurchase(Applied e) {
        Input.Purchase pe = e.purchase();
        switch (pe.type()) {
            case "ADD_TO_CART", "REMOVE_FROM_CART" -> {
                for (int i = 0; i < pe.items().size(); i++) {
                    Input.Item it = pe.items().get(i);
                    String cat = i < e.itemCats().size() ? e.itemCats().get(i) : "";
                    int q = "REMOVE_FROM_CART".equals(pe.type()) ? -it.quantity() : it.quantity();
                    cartAdd(it, q, cat);
                }
                cartActivity = cart.isEmpty() ? 0 : Math.max(cartActivity, e.at());
            }
            case "PURCHASE" -> {
                purchases++;
                lifetimeValueCents += pe.totalCents();
                if (lastPurchaseTime == null || e.at() >= lastPurchaseTime) {
                    lastPurchaseTime = e.at();
                    lastPurchaseId = pe.eventId();
                    lastPurchaseAfterView = false;
                }
                cart.clear();
                cartActivity = 0;
            }
            default -> {}
        }
    }

    private void cartAdd(Input.Item it, int q, String cat) {
        CartLine c = cart.get(it.productId());
        if (c == null) {
            if (q <= 0) {
                return;
            }
            c = new CartLine();
            cart.put(it.productId(), c);
        }
        c.quantity += q;
        if (q > 0) {
            c.unitPriceCents = it.unitPriceCents();
            c.category = cat;
        }
        if (c.quantity <= 0) {
            cart.remove(it.productId());
        }
    }

    long cartValueCents() {
        long v = 0;
        for (CartLine c : cart.values()) {
            v += c.quantity * c.unitPriceCents;
        }
        return v;
    }

    private List<Fired> applyTicket(Applied e) {
        Input.Ticket tk = e.ticket();
        boolean wasAtRisk = atRisk;
        if ("CLOSED".equals(tk.status())) {
            tickets.remove(tk.ticketId());
        } else {
            double sent = tickets.getOrDefault(tk.ticketId(), 0.0);
            if (tk.sentiment() != null) {
                sent = tk.sentiment();
            }
            tickets.put(tk.ticketId(), sent);
        }
        atRisk = false;
        double worst = 0;
        for (double v : tickets.values()) {
            if (v < 0) {
                atRisk = true;
                worst = Math.min(worst, v);
            }
        }
        if (!atRisk || wasAtRisk) {
            return List.of();
        }
        Map<String, String> attrs = new TreeMap<>();
        attrs.put("ticket_id", tk.ticketId());
        attrs.put("open_tickets", Integer.toString(tickets.size()));
        return List.of(new Fired("AT_RISK", -worst, "open support ticket with negative sentiment", attrs));
    }

    /** The cart deadline the state calls for now (0: none). */
    long wantedDeadline() {
        return cartActivity != 0 && !cart.isEmpty() ? cartActivity + CART_IDLE_MS : 0;
    }

    /** The trigger of an idle cart. */
    Fired cartAbandoned() {
        Map<String, String> attrs = new TreeMap<>();
        attrs.put("cart_items", Integer.toString(cart.size()));
        attrs.put("cart_value_cents", Long.toString(cartValueCents()));
        return new Fired("CART_ABANDONED", 1, "cart idle for 30m0s", attrs);
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

    /** The profile as Weir's events.ProfileUpdate JSON (same field names and shapes). */
    Map<String, Object> toMap(String customerId) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("customer_id", customerId);
        m.put("known", true);
        m.put("version", version);
        m.put("updated_at", Json.rfc3339(updatedAt));
        m.put("last_event_time", Json.rfc3339(lastEventTime));
        m.put("segment", segment);
        m.put("country", country);
        m.put("views_window_start", viewsWindowStart == null ? null : Json.rfc3339(viewsWindowStart));
        m.put("views_5m", views5m);
        m.put("views_total", viewsTotal);
        List<String> ids = new ArrayList<>(recent.size());
        for (Seen s : recent) {
            ids.add(s.id());
        }
        m.put("recent_products", ids);
        m.put("top_categories", topCategories());
        List<Map<String, Object>> items = new ArrayList<>(cart.size());
        for (Map.Entry<String, CartLine> c : cart.entrySet()) {
            Map<String, Object> it = new LinkedHashMap<>();
            it.put("product_id", c.getKey());
            it.put("quantity", c.getValue().quantity);
            it.put("unit_price_cents", c.getValue().unitPriceCents);
            it.put("category", c.getValue().category);
            items.add(it);
        }
        m.put("cart_items", items);
        m.put("cart_value_cents", cartValueCents());
        m.put("purchases", purchases);
        m.put("lifetime_value_cents", lifetimeValueCents);
        m.put("last_purchase_time", lastPurchaseTime == null ? null : Json.rfc3339(lastPurchaseTime));
        m.put("last_purchase_after_view", lastPurchaseAfterView);
        m.put("open_tickets", tickets.size());
        m.put("at_risk", atRisk);
        return m;
    }

    /** The store's format: a compact binary record (format byte 2). */
    public static final class StoreSerde implements Serde<ProfileState> {
        private static final byte FORMAT = 2;

        @Override
        public Serializer<ProfileState> serializer() {
            return (topic, p) -> p == null ? null : write(p);
        }

        @Override
        public Deserializer<ProfileState> deserializer() {
            return (topic, data) -> data == null ? null : read(data);
        }

        static byte[] write(ProfileState p) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream(256);
            try (DataOutputStream out = new DataOutputStream(buf)) {
                out.writeByte(FORMAT);
                out.writeLong(p.version);
                out.writeLong(p.updatedAt);
                out.writeLong(p.lastEventTime);
                out.writeUTF(p.segment);
                out.writeUTF(p.country);
                writeOpt(out, p.viewsWindowStart);
                out.writeLong(p.views5m);
                out.writeLong(p.viewsTotal);
                out.writeLong(p.purchases);
                out.writeLong(p.lifetimeValueCents);
                writeOpt(out, p.lastPurchaseTime);
                out.writeBoolean(p.lastPurchaseAfterView);
                out.writeBoolean(p.atRisk);
                out.writeInt(p.cart.size());
                for (Map.Entry<String, CartLine> c : p.cart.entrySet()) {
                    out.writeUTF(c.getKey());
                    out.writeInt(c.getValue().quantity);
                    out.writeLong(c.getValue().unitPriceCents);
                    out.writeUTF(c.getValue().category);
                }
                writeCounts(out, p.categories);
                out.writeInt(p.recent.size());
                for (Seen s : p.recent) {
                    out.writeUTF(s.id());
                    out.writeLong(s.at());
                }
                out.writeInt(p.windows.size());
                for (Map.Entry<Long, Window> w : p.windows.entrySet()) {
                    out.writeLong(w.getKey());
                    out.writeLong(w.getValue().count);
                    writeCounts(out, w.getValue().categories);
                }
                out.writeInt(p.tickets.size());
                for (Map.Entry<String, Double> t : p.tickets.entrySet()) {
                    out.writeUTF(t.getKey());
                    out.writeDouble(t.getValue());
                }
                out.writeUTF(p.lastPurchaseId);
                out.writeLong(p.cartActivity);
                out.writeLong(p.cartDeadline);
            } catch (IOException e) {
                throw new SerializationException("profile store: " + e, e);
            }
            return buf.toByteArray();
        }

        static ProfileState read(byte[] data) {
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
                byte f = in.readByte();
                if (f != FORMAT) {
                    throw new SerializationException("profile store: format " + f + ", want " + FORMAT);
                }
                ProfileState p = new ProfileState();
                p.version = in.readLong();
                p.updatedAt = in.readLong();
                p.lastEventTime = in.readLong();
                p.segment = in.readUTF();
                p.country = in.readUTF();
                p.viewsWindowStart = readOpt(in);
                p.views5m = in.readLong();
                p.viewsTotal = in.readLong();
                p.purchases = in.readLong();
                p.lifetimeValueCents = in.readLong();
                p.lastPurchaseTime = readOpt(in);
                p.lastPurchaseAfterView = in.readBoolean();
                p.atRisk = in.readBoolean();
                for (int i = in.readInt(); i > 0; i--) {
                    String id = in.readUTF();
                    CartLine c = new CartLine();
                    c.quantity = in.readInt();
                    c.unitPriceCents = in.readLong();
                    c.category = in.readUTF();
                    p.cart.put(id, c);
                }
                readCounts(in, p.categories);
                for (int i = in.readInt(); i > 0; i--) {
                    p.recent.add(new Seen(in.readUTF(), in.readLong()));
                }
                for (int i = in.readInt(); i > 0; i--) {
                    long start = in.readLong();
                    Window w = new Window();
                    w.count = in.readLong();
                    readCounts(in, w.categories);
                    p.windows.put(start, w);
                }
                for (int i = in.readInt(); i > 0; i--) {
                    p.tickets.put(in.readUTF(), in.readDouble());
                }
                p.lastPurchaseId = in.readUTF();
                p.cartActivity = in.readLong();
                p.cartDeadline = in.readLong();
                return p;
            } catch (IOException e) {
                throw new SerializationException("profile store: " + e, e);
            }
        }

        private static void writeOpt(DataOutputStream out, Long v) throws IOException {
            out.writeBoolean(v != null);
            if (v != null) {
                out.writeLong(v);
            }
        }

        private static Long readOpt(DataInputStream in) throws IOException {
            return in.readBoolean() ? in.readLong() : null;
        }

        private static void writeCounts(DataOutputStream out, Map<String, Long> m) throws IOException {
            out.writeInt(m.size());
            for (Map.Entry<String, Long> c : m.entrySet()) {
                out.writeUTF(c.getKey());
                out.writeLong(c.getValue());
            }
        }

        private static void readCounts(DataInputStream in, Map<String, Long> m) throws IOException {
            for (int i = in.readInt(); i > 0; i--) {
                m.put(in.readUTF(), in.readLong());
            }
        }
    }
}
