package io.weir.bench.kstreams;

import java.util.ArrayList;
import java.util.List;
import org.apache.avro.generic.GenericRecord;

/**
 * What reaches the profile processor (Weir's profile {@code input}): one of a page view, one line
 * item of a purchase event, a support ticket, a purchase/view join signal, or a customers-table
 * tick (a row changed: stream time may have moved, so cart timers are checked), plus the
 * customer row of the key as of that moment (null segment when it has none).
 */
public record Input(View view, Purchase purchase, int item, String itemCat, Ticket ticket,
                    AfterView afterView, boolean tick, String segment, String country) {

    /** A page view: event id, time, product id ("" for none), resolved category ("" for none). */
    public record View(String eventId, String productId, String category) {}

    public record Item(String productId, int quantity, long unitPriceCents) {}

    /** A purchase event of any type. */
    public record Purchase(String eventId, String type, List<Item> items, long totalCents) {}

    public record Ticket(String eventId, String ticketId, String status, Double sentiment) {}

    /** The purchase/view join found a view of a product of purchase eventId (at purchaseTime) before it. */
    public record AfterView(String eventId, long purchaseTime) {}

    static Input ofView(View v) {
        return new Input(v, null, 0, "", null, null, false, null, null);
    }

    /** Line item i of p (i = -1 for an event without items). */
    static Input ofItem(Purchase p, int i) {
        return new Input(null, p, i, "", null, null, false, null, null);
    }

    static Input ofTicket(Ticket t) {
        return new Input(null, null, 0, "", t, null, false, null, null);
    }

    static Input ofAfterView(AfterView a) {
        return new Input(null, null, 0, "", null, a, false, null, null);
    }

    static Input ofTick() {
        return new Input(null, null, 0, "", null, null, true, null, null);
    }

    Input withItemCat(String cat) {
        return new Input(view, purchase, item, cat, ticket, afterView, tick, segment, country);
    }

    Input withCustomer(String seg, String ctry) {
        return new Input(view, purchase, item, itemCat, ticket, afterView, tick, seg, ctry);
    }

    // Decoding from the Avro records.

    static String eventId(GenericRecord r) {
        return BenchTopology.str((GenericRecord) r.get("context"), "event_id");
    }

    static View viewOf(GenericRecord v, String category) {
        return new View(eventId(v), BenchTopology.str(v, "product_id"), category);
    }

    static Purchase purchaseOf(GenericRecord r) {
        List<Item> items = new ArrayList<>();
        Object arr = r.get("items");
        if (arr instanceof List<?> l) {
            for (Object o : l) {
                GenericRecord it = (GenericRecord) o;
                items.add(new Item(it.get("product_id").toString(), (Integer) it.get("quantity"),
                        (Long) it.get("unit_price_cents")));
            }
        }
        return new Purchase(eventId(r), String.valueOf(r.get("type")), items, (Long) r.get("total_cents"));
    }

    static Ticket ticketOf(GenericRecord r) {
        Object s = r.get("sentiment");
        return new Ticket(eventId(r), r.get("ticket_id").toString(), String.valueOf(r.get("status")),
                s == null ? null : ((Number) s).doubleValue());
    }
}
