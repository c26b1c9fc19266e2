package avro

import "fmt"

// SubjectNameStrategy chooses the registry subject a producer's schema is
// registered or looked up under; the names and rules are Confluent's.
type SubjectNameStrategy int

const (
	// TopicName: "<topic>-value" or "<topic>-key". One schema lineage per
	// topic; the default.
	TopicName SubjectNameStrategy = iota
	// RecordName: the record's full name, e.g. "io.weir.events.PageView".
	// One lineage per type, shared by every topic that carries it.
	RecordName
	// TopicRecordName: "<topic>-<full name>". Several types per topic,
	// each with its own lineage.
	TopicRecordName
)

func (s SubjectNameStrategy) String() string {
	switch s {
	case TopicName:
		return "TopicName"
	case RecordName:
		return "RecordName"
	case TopicRecordName:
		return "TopicRecordName"
	}
	return fmt.Sprintf("SubjectNameStrategy(%d)", int(s))
}

// Subject returns the subject for a key or value schema named recordName
// (a full name; empty for unnamed schemas such as "string") on topic.
func (s SubjectNameStrategy) Subject(topic string, isKey bool, recordName string) string {
	switch s {
	case RecordName:
		return recordName
	case TopicRecordName:
		return topic + "-" + recordName
	}
	if isKey {
		return topic + "-key"
	}
	return topic + "-value"
}
