package io.weir.bench.kstreams;

/**
 * One profile event as the aggregate sees it: what it is, the facts the profile needs, and
 * the customer row joined to it (null segment/country when the customer has no row).
 */
public record Event(Type type, String category, boolean purchase, long totalCents, String segment, String country) {

    public enum Type { VIEW, PURCHASE_EVENT, TICKET }

    /** A page view; category is the resolved category, or "" for none. */
    static Event view(String category) {
        return new Event(Type.VIEW, category, false, 0, null, null);
    }

    /** A purchase event of any type; only PURCHASE counts as a purchase. */
    static Event purchaseEvent(boolean purchase, long totalCents) {
        return new Event(Type.PURCHASE_EVENT, "", purchase, totalCents, null, null);
    }

    static Event ticket() {
        return new Event(Type.TICKET, "", false, 0, null, null);
    }

    Event withCustomer(String segment, String country) {
        return new Event(type, category, purchase, totalCents, segment, country);
    }
}
