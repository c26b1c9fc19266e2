// Package events holds the Avro event types of the personalization domain:
// the schemas (embedded from schemas/*.avsc, copied to testdata/schemas),
// Go structs with avro tags, topic names and serde constructors.
//
// Times are time.Time in UTC with millisecond precision (timestamp-millis);
// money is int64 minor units ("cents") to avoid float rounding.
package events

import (
	_ "embed"
	"time"

	"github.com/weirstream/weir/codec/avro"
)

// Topics the events travel on.
const (
	TopicWebBrowsing    = "web_browsing"
	TopicPurchaseEvents = "purchase_events"
	TopicSupportTickets = "support_tickets"
	TopicCustomers      = "customers"
	TopicProducts       = "products"
	TopicProfileUpdates = "profile_updates"
	TopicTriggers       = "profile_triggers"
	// Erasure requests in, what they erased out.
	TopicErasures     = "erasures"
	TopicErasureAudit = "erasure_audit"
)

// Schemas, as registered in the schema registry.
var (
	//go:embed schemas/page_view.avsc
	PageViewSchema string
	//go:embed schemas/purchase_event.avsc
	PurchaseEventSchema string
	//go:embed schemas/support_ticket.avsc
	SupportTicketSchema string
	//go:embed schemas/customer.avsc
	CustomerSchema string
	//go:embed schemas/product.avsc
	ProductSchema string
	//go:embed schemas/profile_update.avsc
	ProfileUpdateSchema string
	//go:embed schemas/trigger.avsc
	TriggerSchema string
	//go:embed schemas/erasure_request.avsc
	ErasureRequestSchema string
	//go:embed schemas/erasure_audit.avsc
	ErasureAuditSchema string
)

// Context is the metadata every input event carries.
type Context struct {
	EventID string `avro:"event_id"`
	// EventTime is when the event happened: the event time Weir's profile
	// topology uses, whatever the Kafka record timestamp says.
	EventTime time.Time `avro:"event_time"`
	SessionID *string   `avro:"session_id"`
	Device    Device    `avro:"device"`
	Location  Location  `avro:"location"`
	// The rest is set by the collector (package collect) for events from
	// browsers and apps; nil for events produced to Kafka directly.
	AnonymousID  *string    `avro:"anonymous_id"`
	Locale       *string    `avro:"locale"`
	Viewport     *string    `avro:"viewport"`
	ReceivedTime *time.Time `avro:"received_time"`
}

// DeviceType is the kind of device an event came from.
type DeviceType string

// Device types.
const (
	DeviceDesktop DeviceType = "DESKTOP"
	DeviceMobile  DeviceType = "MOBILE"
	DeviceTablet  DeviceType = "TABLET"
	DeviceApp     DeviceType = "APP"
	DeviceOther   DeviceType = "OTHER"
)

// Device describes the client.
type Device struct {
	Type      DeviceType `avro:"type"`
	OS        *string    `avro:"os"`
	UserAgent *string    `avro:"user_agent"`
}

// Location is where the client was, as far as the collector knows.
type Location struct {
	Country *string `avro:"country"` // ISO 3166-1 alpha-2
	Region  *string `avro:"region"`
	City    *string `avro:"city"`
}

// PageType classifies a viewed page.
type PageType string

// Page types.
const (
	PageHome     PageType = "HOME"
	PageCategory PageType = "CATEGORY"
	PageProduct  PageType = "PRODUCT"
	PageSearch   PageType = "SEARCH"
	PageCart     PageType = "CART"
	PageCheckout PageType = "CHECKOUT"
	PageOther    PageType = "OTHER"
)

// PageView is a page seen in a browser or app (topic web_browsing).
type PageView struct {
	Context     Context  `avro:"context"`
	CustomerID  string   `avro:"customer_id"`
	URL         string   `avro:"url"`
	PageType    PageType `avro:"page_type"`
	ProductID   *string  `avro:"product_id"`
	Category    *string  `avro:"category"`
	Referrer    *string  `avro:"referrer"`
	SearchQuery *string  `avro:"search_query"`
	DwellMillis int64    `avro:"dwell_ms"`
	Bot         bool     `avro:"bot"`
}

// PurchaseEventType says what happened to a cart.
type PurchaseEventType string

// Purchase event types.
const (
	AddToCart      PurchaseEventType = "ADD_TO_CART"
	RemoveFromCart PurchaseEventType = "REMOVE_FROM_CART"
	Purchase       PurchaseEventType = "PURCHASE"
)

// LineItem is one product line of a cart change or order.
type LineItem struct {
	ProductID      string `avro:"product_id"`
	Quantity       int32  `avro:"quantity"`
	UnitPriceCents int64  `avro:"unit_price_cents"`
}

// PurchaseEvent is a cart change or a purchase (topic purchase_events).
type PurchaseEvent struct {
	Context    Context           `avro:"context"`
	CustomerID string            `avro:"customer_id"`
	Type       PurchaseEventType `avro:"type"`
	CartID     string            `avro:"cart_id"`
	OrderID    *string           `avro:"order_id"`
	Items      []LineItem        `avro:"items"`
	Currency   string            `avro:"currency"`
	TotalCents int64             `avro:"total_cents"`
}

// TicketStatus is the state change of a ticket.
type TicketStatus string

// Ticket statuses.
const (
	TicketOpened  TicketStatus = "OPENED"
	TicketUpdated TicketStatus = "UPDATED"
	TicketClosed  TicketStatus = "CLOSED"
)

// TicketPriority is a ticket's urgency.
type TicketPriority string

// Ticket priorities.
const (
	PriorityLow    TicketPriority = "LOW"
	PriorityMedium TicketPriority = "MEDIUM"
	PriorityHigh   TicketPriority = "HIGH"
	PriorityUrgent TicketPriority = "URGENT"
)

// TicketChannel is how the customer reached support.
type TicketChannel string

// Ticket channels.
const (
	ChannelEmail  TicketChannel = "EMAIL"
	ChannelChat   TicketChannel = "CHAT"
	ChannelPhone  TicketChannel = "PHONE"
	ChannelSocial TicketChannel = "SOCIAL"
	ChannelOther  TicketChannel = "OTHER"
)

// SupportTicket is a support ticket change (topic support_tickets).
type SupportTicket struct {
	Context    Context        `avro:"context"`
	CustomerID string         `avro:"customer_id"`
	TicketID   string         `avro:"ticket_id"`
	Status     TicketStatus   `avro:"status"`
	Priority   TicketPriority `avro:"priority"`
	Channel    TicketChannel  `avro:"channel"`
	Subject    *string        `avro:"subject"`
	Sentiment  *float64       `avro:"sentiment"` // -1 angry .. 1 happy
}

// Customer is a row of the customers table.
type Customer struct {
	CustomerID  string    `avro:"customer_id"`
	Email       *string   `avro:"email"`
	Segment     string    `avro:"segment"`
	Country     string    `avro:"country"`
	SignupTime  time.Time `avro:"signup_time"`
	LoyaltyTier *string   `avro:"loyalty_tier"`
	// UpdatedAt is the row's event time in the profile topology.
	UpdatedAt time.Time `avro:"updated_at"`
}

// Product is a catalog entry (topic products).
type Product struct {
	ProductID  string    `avro:"product_id"`
	Name       string    `avro:"name"`
	Category   string    `avro:"category"`
	Brand      string    `avro:"brand"`
	PriceCents int64     `avro:"price_cents"`
	Currency   string    `avro:"currency"`
	InStock    bool      `avro:"in_stock"`
	UpdatedAt  time.Time `avro:"updated_at"`
}

// ProfileUpdate is a customer profile after a change (topic
// profile_updates, key customer_id). Every field is a function of the
// events applied so far (no wall clock), so a version always names the
// same state: apply an update only if its version is greater than the one
// you hold.
type ProfileUpdate struct {
	CustomerID string `avro:"customer_id" json:"customer_id"`
	// Known is false only in the default profile served for a customer
	// with no events.
	Known bool `avro:"known" json:"known"`
	// Version is the number of events applied; it only grows.
	Version int64 `avro:"version" json:"version"`
	// UpdatedAt is the task's stream time when the update was made.
	UpdatedAt time.Time `avro:"updated_at" json:"updated_at"`
	// LastEventTime is the event time of the last event applied.
	LastEventTime time.Time `avro:"last_event_time" json:"last_event_time"`
	// Segment and Country come from the customers table when the event was
	// applied ("unknown" and "ZZ" when the customer has no row yet).
	Segment string `avro:"segment" json:"segment"`
	Country string `avro:"country" json:"country"`

	// ViewsWindowStart is the start of the 5-minute tumbling window of the
	// latest page view in time; Views5m the views counted in it (views
	// later than the 1-minute grace are not).
	ViewsWindowStart *time.Time `avro:"views_window_start" json:"views_window_start"`
	Views5m          int64      `avro:"views_5m" json:"views_5m"`
	ViewsTotal       int64      `avro:"views_total" json:"views_total"`
	// RecentProducts: the last 10 distinct products viewed, most recent
	// (by event time) first.
	RecentProducts []string `avro:"recent_products" json:"recent_products"`
	// TopCategories: the 3 most viewed categories, ties by name.
	TopCategories []string `avro:"top_categories" json:"top_categories"`

	CartItems      []CartItem `avro:"cart_items" json:"cart_items"` // by product id
	CartValueCents int64      `avro:"cart_value_cents" json:"cart_value_cents"`

	Purchases          int64      `avro:"purchases" json:"purchases"`
	LifetimeValueCents int64      `avro:"lifetime_value_cents" json:"lifetime_value_cents"`
	LastPurchaseTime   *time.Time `avro:"last_purchase_time" json:"last_purchase_time"`
	// LastPurchaseAfterView: some product of the last purchase was viewed
	// within the 30 minutes before it.
	LastPurchaseAfterView bool `avro:"last_purchase_after_view" json:"last_purchase_after_view"`

	OpenTickets int32 `avro:"open_tickets" json:"open_tickets"`
	// AtRisk: some open ticket has a negative sentiment.
	AtRisk bool `avro:"at_risk" json:"at_risk"`
}

// CartItem is one product in a cart.
type CartItem struct {
	ProductID      string `avro:"product_id" json:"product_id"`
	Quantity       int32  `avro:"quantity" json:"quantity"`
	UnitPriceCents int64  `avro:"unit_price_cents" json:"unit_price_cents"`
	Category       string `avro:"category" json:"category"` // from the catalog; "" if unknown
}

// TriggerType names a personalization signal.
type TriggerType string

// Trigger types.
const (
	CartAbandoned TriggerType = "CART_ABANDONED"
	AtRisk        TriggerType = "AT_RISK"
	HighIntent    TriggerType = "HIGH_INTENT"
)

// Trigger is a signal for personalization engines (topic
// profile_triggers, key customer_id).
type Trigger struct {
	TriggerID    string            `avro:"trigger_id" json:"trigger_id"`
	CustomerID   string            `avro:"customer_id" json:"customer_id"`
	Type         TriggerType       `avro:"type" json:"type"`
	FiredAt      time.Time         `avro:"fired_at" json:"fired_at"`
	Score        float64           `avro:"score" json:"score"`
	Reason       string            `avro:"reason" json:"reason"`
	CauseEventID *string           `avro:"cause_event_id" json:"cause_event_id"`
	Attributes   map[string]string `avro:"attributes" json:"attributes"`
}

// ErasureRequest asks to erase a customer's data (topic erasures, key
// customer_id).
type ErasureRequest struct {
	RequestID   string    `avro:"request_id" json:"request_id"`
	CustomerID  string    `avro:"customer_id" json:"customer_id"`
	RequestedBy string    `avro:"requested_by" json:"requested_by"`
	RequestedAt time.Time `avro:"requested_at" json:"requested_at"`
	Reason      string    `avro:"reason" json:"reason"`
}

// ErasureAudit records what an erasure request erased (topic
// erasure_audit, key customer_id).
type ErasureAudit struct {
	RequestID   string    `avro:"request_id" json:"request_id"`
	CustomerID  string    `avro:"customer_id" json:"customer_id"`
	RequestedBy string    `avro:"requested_by" json:"requested_by"`
	RequestedAt time.Time `avro:"requested_at" json:"requested_at"`
	Reason      string    `avro:"reason" json:"reason"`
	Application string    `avro:"application" json:"application"`
	Task        string    `avro:"task" json:"task"`
	Stores      []string  `avro:"stores" json:"stores"`
	Changelogs  []string  `avro:"changelogs" json:"changelogs"`
	Outputs     []string  `avro:"outputs" json:"outputs"`
}

// Serde constructors: Avro in the Confluent wire format over reg.

// PageViewSerde returns the PageView value serde.
func PageViewSerde(reg *avro.Registry, opts ...avro.Opt) (*avro.Serde[PageView], error) {
	return avro.New[PageView](reg, PageViewSchema, opts...)
}

// PurchaseEventSerde returns the PurchaseEvent value serde.
func PurchaseEventSerde(reg *avro.Registry, opts ...avro.Opt) (*avro.Serde[PurchaseEvent], error) {
	return avro.New[PurchaseEvent](reg, PurchaseEventSchema, opts...)
}

// SupportTicketSerde returns the SupportTicket value serde.
func SupportTicketSerde(reg *avro.Registry, opts ...avro.Opt) (*avro.Serde[SupportTicket], error) {
	return avro.New[SupportTicket](reg, SupportTicketSchema, opts...)
}

// CustomerSerde returns the Customer value serde.
func CustomerSerde(reg *avro.Registry, opts ...avro.Opt) (*avro.Serde[Customer], error) {
	return avro.New[Customer](reg, CustomerSchema, opts...)
}

// ProductSerde returns the Product value serde.
func ProductSerde(reg *avro.Registry, opts ...avro.Opt) (*avro.Serde[Product], error) {
	return avro.New[Product](reg, ProductSchema, opts...)
}

// ProfileUpdateSerde returns the ProfileUpdate value serde.
func ProfileUpdateSerde(reg *avro.Registry, opts ...avro.Opt) (*avro.Serde[ProfileUpdate], error) {
	return avro.New[ProfileUpdate](reg, ProfileUpdateSchema, opts...)
}

// TriggerSerde returns the Trigger value serde.
func TriggerSerde(reg *avro.Registry, opts ...avro.Opt) (*avro.Serde[Trigger], error) {
	return avro.New[Trigger](reg, TriggerSchema, opts...)
}

// ErasureRequestSerde returns the ErasureRequest value serde.
func ErasureRequestSerde(reg *avro.Registry, opts ...avro.Opt) (*avro.Serde[ErasureRequest], error) {
	return avro.New[ErasureRequest](reg, ErasureRequestSchema, opts...)
}

// ErasureAuditSerde returns the ErasureAudit value serde.
func ErasureAuditSerde(reg *avro.Registry, opts ...avro.Opt) (*avro.Serde[ErasureAudit], error) {
	return avro.New[ErasureAudit](reg, ErasureAuditSchema, opts...)
}
