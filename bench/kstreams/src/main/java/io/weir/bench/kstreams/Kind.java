package io.weir.bench.kstreams;

/** The Avro record types the benchmark reads, with their .avsc file names. */
public enum Kind {
    PAGE_VIEW("page_view.avsc"),
    PURCHASE_EVENT("purchase_event.avsc"),
    SUPPORT_TICKET("support_ticket.avsc"),
    CUSTOMER("customer.avsc"),
    PRODUCT("product.avsc");

    final String file;

    Kind(String file) {
        this.file = file;
    }
}
