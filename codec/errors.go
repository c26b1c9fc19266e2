package codec

import "errors"

// Errors of the registry-backed serdes. Decode errors that a dead-letter
// topic should receive also wrap ErrMalformed; the others do not, because
// retrying or stopping is right for them and dead-lettering would lose
// good records.
var (
	// ErrUnknownSchema: the registry says no schema has the record's id.
	// Always wrapped together with ErrMalformed.
	ErrUnknownSchema = errors.New("codec: unknown schema id")

	// ErrIncompatibleSchema: the record's writer schema cannot be read
	// into the reader schema (a missing field without default, a type
	// change that is not a promotion, another record type, a non-Avro
	// schema). Always wrapped together with ErrMalformed.
	ErrIncompatibleSchema = errors.New("codec: writer schema incompatible with reader schema")

	// ErrTooLarge: the record or encoded value exceeds MaxRecordBytes.
	// Decode wraps it together with ErrMalformed.
	ErrTooLarge = errors.New("codec: record too large")

	// ErrRegistryUnavailable: the registry could not be reached, or
	// answered with an error other than "not found", for every attempt
	// the retry options allowed. The record itself may be fine: retry
	// later or stop, do not dead-letter it.
	ErrRegistryUnavailable = errors.New("codec: schema registry unavailable")

	// ErrNotRegistered: encoding needs a schema id but the subject has no
	// such schema and auto-registration is off. Register the schema (or
	// use AutoRegister) — a configuration error, not a bad record.
	ErrNotRegistered = errors.New("codec: schema not registered under subject")

	// ErrInvalidValue: the value to encode does not fit the schema (an
	// unknown enum symbol, a nil where the schema has no null).
	ErrInvalidValue = errors.New("codec: value does not fit schema")

	// ErrFramedKey: a key declared plain text (PlainString) is in the
	// Confluent wire format, e.g. an Avro key. Always wrapped together
	// with ErrMalformed.
	ErrFramedKey = errors.New("codec: registry-framed key where a plain string key is declared")
)

// Kind names the class of a codec error, for metrics and the
// weir.error.kind dead-letter header.
type Kind string

// Error kinds, most specific first (see KindOf).
const (
	KindUnknownSchema       Kind = "unknown-schema"
	KindIncompatibleSchema  Kind = "incompatible-schema"
	KindTooLarge            Kind = "too-large"
	KindFramedKey           Kind = "framed-key"
	KindMalformed           Kind = "malformed"
	KindRegistryUnavailable Kind = "registry-unavailable"
	KindNotRegistered       Kind = "not-registered"
	KindInvalidValue        Kind = "invalid-value"
	KindOther               Kind = "other"
)

// KindOf classifies err. A nil error has kind "".
func KindOf(err error) Kind {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrUnknownSchema):
		return KindUnknownSchema
	case errors.Is(err, ErrIncompatibleSchema):
		return KindIncompatibleSchema
	case errors.Is(err, ErrTooLarge):
		return KindTooLarge
	case errors.Is(err, ErrFramedKey):
		return KindFramedKey
	case errors.Is(err, ErrMalformed):
		return KindMalformed
	case errors.Is(err, ErrRegistryUnavailable):
		return KindRegistryUnavailable
	case errors.Is(err, ErrNotRegistered):
		return KindNotRegistered
	case errors.Is(err, ErrInvalidValue):
		return KindInvalidValue
	default:
		return KindOther
	}
}
