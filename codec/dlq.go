package codec

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Header names of a dead-letter record. Numbers are decimal ASCII; the
// timestamp is Unix milliseconds, as Kafka record timestamps are.
const (
	HeaderError     = "weir.error"      // err.Error(), cut to MaxDeadLetterErrorBytes
	HeaderErrorKind = "weir.error.kind" // KindOf(err), e.g. "malformed"
	HeaderTopic     = "weir.topic"      // source topic
	HeaderPartition = "weir.partition"  // source partition
	HeaderOffset    = "weir.offset"     // source offset
	HeaderTimestamp = "weir.timestamp"  // source record timestamp, Unix ms
)

// MaxDeadLetterErrorBytes caps the weir.error header: decode errors can
// quote attacker-controlled names and must not blow up the DLQ record.
const MaxDeadLetterErrorBytes = 1024

// DeadLetterHeaders returns the headers to attach to a record that goes to
// a dead-letter topic unchanged (original key and value), naming why and
// where it came from. It does no I/O.
func DeadLetterHeaders(err error, topic string, partition int32, offset int64, timestamp time.Time) []Header {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if len(msg) > MaxDeadLetterErrorBytes {
		n := MaxDeadLetterErrorBytes
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n-- // keep the header valid UTF-8
		}
		msg = msg[:n]
	}
	return []Header{
		{Key: HeaderError, Value: []byte(msg)},
		{Key: HeaderErrorKind, Value: []byte(KindOf(err))},
		{Key: HeaderTopic, Value: []byte(topic)},
		{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(partition), 10)},
		{Key: HeaderOffset, Value: strconv.AppendInt(nil, offset, 10)},
		{Key: HeaderTimestamp, Value: strconv.AppendInt(nil, timestamp.UnixMilli(), 10)},
	}
}
