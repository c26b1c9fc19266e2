package codec

import (
	"encoding/binary"
	"fmt"
)

// The Confluent wire format: one magic byte (0), a 4-byte big-endian schema
// id, then the payload in the schema's binary encoding.
const (
	// WireMagic is the first byte of every Confluent-framed record.
	WireMagic byte = 0
	// WireHeaderLen is the length of the magic byte plus the schema id.
	WireHeaderLen = 5
)

// ParseWire splits a Confluent-framed record into its schema id and
// payload. The payload aliases b. Errors wrap ErrMalformed.
func ParseWire(b []byte) (schemaID uint32, payload []byte, err error) {
	if len(b) < WireHeaderLen {
		return 0, nil, fmt.Errorf("%w: %d bytes is shorter than the %d-byte Confluent header", ErrMalformed, len(b), WireHeaderLen)
	}
	if b[0] != WireMagic {
		return 0, nil, fmt.Errorf("%w: magic byte is 0x%02x, want 0x00 (not Confluent wire format)", ErrMalformed, b[0])
	}
	return binary.BigEndian.Uint32(b[1:WireHeaderLen]), b[WireHeaderLen:], nil
}

// AppendWireHeader appends the magic byte and schema id to dst; append the
// payload after it.
func AppendWireHeader(dst []byte, schemaID uint32) []byte {
	dst = append(dst, WireMagic)
	return binary.BigEndian.AppendUint32(dst, schemaID)
}
