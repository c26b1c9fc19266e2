package profile

import (
	"errors"
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/topology"
)

// Store names, stable: they name the changelog topics.
const (
	// StoreProfiles holds the profile of every customer seen: key the
	// customer id as the key serde encodes it, value as DecodeStored reads.
	StoreProfiles = "profiles"
	// StoreCartTimers holds one entry per non-empty cart: when it will
	// count as abandoned.
	StoreCartTimers = "profile-cart-timers"
	// joinPurchaseView is the stream-stream join of purchases with views;
	// it names the stores profile-purchase-view-left and -right.
	joinPurchaseView = "profile-purchase-view"
)

// Fallbacks when the customers table has no row for a customer (unknown
// customer, or its row not read yet).
const (
	UnknownSegment = "unknown"
	UnknownCountry = "ZZ"
)

// Time rules of the profile.
const (
	// ViewWindow is the tumbling window of Views5m and high intent.
	ViewWindow = 5 * time.Minute
	// Grace is how late (behind stream time) a view may be and still
	// count in its window; also the grace of the purchase/view join.
	Grace = time.Minute
	// ViewBeforePurchase is how long before a purchase a view of the same
	// product sets LastPurchaseAfterView.
	ViewBeforePurchase = 30 * time.Minute
	// CartIdle is how long (in event time) a non-empty cart may go without
	// cart activity or purchase before cart_abandoned fires.
	CartIdle = 30 * time.Minute
	// HighIntentViews is how many views of one category inside one
	// ViewWindow window fire high_intent (once per window and category).
	HighIntentViews = 5
	// RecentProducts and TopCategories are the lengths of those lists.
	RecentProducts = 10
	TopCategories  = 3
)

// EmitMode says when profile updates are written.
type EmitMode int

const (
	// PerCommit writes the latest profile of each changed customer once
	// per commit (the task's commit hook).
	PerCommit EmitMode = iota
	// PerEvent writes one profile per event applied.
	PerEvent
)

// Topics names the topics. Empty fields take the events package's names.
type Topics struct {
	Views, Purchases, Tickets string // inputs keyed by customer id
	Customers                 string // table keyed by customer id
	Products                  string // global table keyed by product id
	Updates, Triggers         string // outputs keyed by customer id
	// Erasures holds erasure requests keyed by customer id, co-partitioned
	// with the inputs; what each erased goes to ErasureAudit. Empty: the
	// application reads no erasure requests (PrefixedTopics leaves it
	// empty; WithErasures names both).
	Erasures, ErasureAudit string
}

// WithErasures returns tp reading erasure requests from the events
// package's topics, behind prefix.
func (tp Topics) WithErasures(prefix string) Topics {
	tp.Erasures, tp.ErasureAudit = prefix+events.TopicErasures, prefix+events.TopicErasureAudit
	return tp
}

// PrefixedTopics returns the events package's topic names, each behind
// prefix, so several applications can share a cluster.
func PrefixedTopics(prefix string) Topics {
	return Topics{
		Views: prefix + events.TopicWebBrowsing, Purchases: prefix + events.TopicPurchaseEvents,
		Tickets: prefix + events.TopicSupportTickets, Customers: prefix + events.TopicCustomers,
		Products: prefix + events.TopicProducts, Updates: prefix + events.TopicProfileUpdates,
		Triggers: prefix + events.TopicTriggers,
	}
}

// Of returns the field of tp that names the topic of r's kind: tests,
// benchmarks and demos use it to write generated records to tp.
func (tp Topics) Of(r Record) string {
	switch {
	case r.View != nil:
		return tp.Views
	case r.Purchase != nil:
		return tp.Purchases
	case r.Ticket != nil:
		return tp.Tickets
	case r.Customer != nil:
		return tp.Customers
	}
	return tp.Products
}

// Serdes are the serdes of every topic. Every value serde is required:
// AvroSerdes gives the production ones, JSONSerdes registry-free ones.
type Serdes struct {
	// Key is the serde of customer and product ids as plain text: the
	// input keys under KeyString, and always the keys of stores,
	// changelogs and outputs. Default: codec.PlainString(), which
	// dead-letters a registry-framed key (kind framed-key).
	Key codec.Serde[string]
	// AvroKey reads the customer-id keys of the inputs under KeyAvro:
	// Confluent-framed Avro strings. AvroSerdes sets it.
	AvroKey  codec.Serde[string]
	PageView codec.Serde[events.PageView]
	Purchase codec.Serde[events.PurchaseEvent]
	Ticket   codec.Serde[events.SupportTicket]
	Customer codec.Serde[events.Customer]
	Product  codec.Serde[events.Product]
	Update   codec.Serde[events.ProfileUpdate]
	Trigger  codec.Serde[events.Trigger]
	// Erasure and Audit are needed with Topics.Erasures only.
	Erasure codec.Serde[events.ErasureRequest]
	Audit   codec.Serde[events.ErasureAudit]
}

// JSONSerdes are registry-free serdes, for tests and demos.
func JSONSerdes() Serdes {
	return Serdes{
		Key:      codec.PlainString(),
		PageView: codec.JSON[events.PageView](),
		Purchase: codec.JSON[events.PurchaseEvent](),
		Ticket:   codec.JSON[events.SupportTicket](),
		Customer: codec.JSON[events.Customer](),
		Product:  codec.JSON[events.Product](),
		Update:   codec.JSON[events.ProfileUpdate](),
		Trigger:  codec.JSON[events.Trigger](),
		Erasure:  codec.JSON[events.ErasureRequest](),
		Audit:    codec.JSON[events.ErasureAudit](),
	}
}

// AvroSerdes are the Avro serdes (Confluent wire format) over reg.
func AvroSerdes(reg *avro.Registry, opts ...avro.Opt) (Serdes, error) {
	s := Serdes{Key: codec.PlainString()}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	s.PageView, err = events.PageViewSerde(reg, opts...)
	add(err)
	s.Purchase, err = events.PurchaseEventSerde(reg, opts...)
	add(err)
	s.Ticket, err = events.SupportTicketSerde(reg, opts...)
	add(err)
	s.Customer, err = events.CustomerSerde(reg, opts...)
	add(err)
	s.Product, err = events.ProductSerde(reg, opts...)
	add(err)
	s.Update, err = events.ProfileUpdateSerde(reg, opts...)
	add(err)
	s.Trigger, err = events.TriggerSerde(reg, opts...)
	add(err)
	s.Erasure, err = events.ErasureRequestSerde(reg, opts...)
	add(err)
	s.Audit, err = events.ErasureAuditSerde(reg, opts...)
	add(err)
	s.AvroKey, err = avro.New[string](reg, `"string"`, append(append([]avro.Opt(nil), opts...), avro.ForKeys())...)
	add(err)
	if err := errors.Join(errs...); err != nil {
		return Serdes{}, fmt.Errorf("profile: avro serdes: %w", err)
	}
	return s, nil
}

// Config configures Topology.
type Config struct {
	// AppID prefixes internal topics and is the consumer group id.
	// Default: "weir-profiles".
	AppID  string
	Topics Topics
	Serdes Serdes
	// Emit says when profile updates are written. Default: PerCommit.
	Emit EmitMode
	// BadInput is the policy of the three event sources and the customers
	// table for records that do not decode. Default: PolicyUnset (the
	// runtime's default).
	BadInput topology.BadInputPolicy
	// KeyFormat is how producers wrote the customer-id keys of the three
	// event topics and the customers table. Products keys (product ids)
	// are always plain text. Default: KeyString.
	KeyFormat KeyFormat
	// MaxFutureSkew bounds how far an event's own time field may be ahead
	// of its Kafka record timestamp: a later event time is clamped to the
	// record timestamp plus MaxFutureSkew, so one device with a clock in
	// the future cannot advance stream time and close everyone's windows
	// early. Negative: no bound (as Kafka Streams). Default: Grace (1m).
	MaxFutureSkew time.Duration
	// CachedProfiles bounds the write-back cache of each task: the
	// profiles it keeps decoded, changed ones written to the store once
	// per commit. Past it, the changed ones are written at once and the
	// cache starts afresh, so memory stays bounded with many customers
	// (a profile takes a few KiB at most). Default: 20000.
	CachedProfiles int
	// CartIdle is how long (in event time) a non-empty cart may go
	// without activity before cart_abandoned fires. Default: CartIdle
	// (30m); the browser demo shortens it so the trigger shows while a
	// person watches.
	CartIdle time.Duration
	// InactiveTTL forgets a customer who has had no event for this long
	// (in event time: stream time past the profile's UpdatedAt): the
	// profile leaves StoreProfiles with a changelog tombstone
	// (topology.TTL), no pending cart_abandoned fires for it, and a
	// returning customer starts a new profile. Versions stay increasing
	// across that: with InactiveTTL set, a new profile's version starts
	// at its creation stream time in Unix ms × 1000 (then +1 per event),
	// so it is above any version of the customer's expired profile, and
	// trigger ids (customer, type, version) are never reused. Profiles
	// written before InactiveTTL was set are forgotten when next read
	// after the TTL (their store entries stay until then). Default: 0,
	// profiles are kept forever and versions count events from 1.
	InactiveTTL time.Duration
}

// KeyFormat is the encoding of the input topics' keys.
type KeyFormat string

const (
	// KeyString: keys are the customer id as UTF-8 text. A key in the
	// Confluent wire format is dead-lettered (kind framed-key).
	KeyString KeyFormat = "string"
	// KeyAvro: keys are Avro strings in the Confluent wire format
	// (subject <topic>-key), decoded with Serdes.AvroKey. A key that is
	// not framed is dead-lettered (kind malformed).
	KeyAvro KeyFormat = "avro"
)

// ErrConfig is returned for an unusable Config.
var ErrConfig = errors.New("profile: bad config")

func (c Config) withDefaults() (Config, error) {
	if c.AppID == "" {
		c.AppID = "weir-profiles"
	}
	t := &c.Topics
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&t.Views, events.TopicWebBrowsing)
	def(&t.Purchases, events.TopicPurchaseEvents)
	def(&t.Tickets, events.TopicSupportTickets)
	def(&t.Customers, events.TopicCustomers)
	def(&t.Products, events.TopicProducts)
	def(&t.Updates, events.TopicProfileUpdates)
	def(&t.Triggers, events.TopicTriggers)
	s := &c.Serdes
	if s.Key == nil {
		s.Key = codec.PlainString()
	}
	var missing []string
	for name, ok := range map[string]bool{
		"PageView": s.PageView != nil, "Purchase": s.Purchase != nil, "Ticket": s.Ticket != nil,
		"Customer": s.Customer != nil, "Product": s.Product != nil, "Update": s.Update != nil,
		"Trigger": s.Trigger != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if t.Erasures != "" {
		if t.ErasureAudit == "" {
			return c, fmt.Errorf("%w: Topics.Erasures %q needs Topics.ErasureAudit (WithErasures names both)", ErrConfig, t.Erasures)
		}
		if s.Erasure == nil {
			missing = append(missing, "Erasure")
		}
		if s.Audit == nil {
			missing = append(missing, "Audit")
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("%w: missing serdes %v", ErrConfig, sortedStrings(missing))
	}
	switch c.KeyFormat {
	case "":
		c.KeyFormat = KeyString
	case KeyString:
	case KeyAvro:
		if s.AvroKey == nil {
			return c, fmt.Errorf("%w: KeyFormat %q needs Serdes.AvroKey (AvroSerdes sets it)", ErrConfig, c.KeyFormat)
		}
	default:
		return c, fmt.Errorf("%w: KeyFormat %q: use %q or %q", ErrConfig, c.KeyFormat, KeyString, KeyAvro)
	}
	if c.CartIdle < 0 {
		return c, fmt.Errorf("%w: cart idle %v: give a positive duration, or 0 for %v", ErrConfig, c.CartIdle, CartIdle)
	}
	if c.CartIdle == 0 {
		c.CartIdle = CartIdle
	}
	if c.InactiveTTL < 0 || c.InactiveTTL > 0 && c.InactiveTTL < time.Millisecond {
		return c, fmt.Errorf("%w: inactive TTL %v: give at least 1ms, or 0 to keep profiles forever", ErrConfig, c.InactiveTTL)
	}
	// A profile outlives its cart timer, so no timer of a forgotten
	// customer is left behind (an erasure finds it through the profile).
	if c.InactiveTTL > 0 && c.CartIdle > 0 && c.InactiveTTL < c.CartIdle {
		return c, fmt.Errorf("%w: inactive TTL %v is shorter than the cart idle time %v: give at least %v", ErrConfig, c.InactiveTTL, c.CartIdle, c.CartIdle)
	}
	if c.MaxFutureSkew == 0 {
		c.MaxFutureSkew = Grace
	}
	switch {
	case c.CachedProfiles == 0:
		c.CachedProfiles = maxCachedProfiles
	case c.CachedProfiles < 0:
		return c, fmt.Errorf("%w: CachedProfiles %d: use a positive bound, or 0 for the default (%d)", ErrConfig, c.CachedProfiles, maxCachedProfiles)
	}
	if c.Emit != PerCommit && c.Emit != PerEvent {
		return c, fmt.Errorf("%w: emit mode %d", ErrConfig, c.Emit)
	}
	return c, nil
}
