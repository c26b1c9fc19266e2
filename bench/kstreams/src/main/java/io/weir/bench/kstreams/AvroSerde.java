package io.weir.bench.kstreams;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Avro in the Confluent wire format (magic 0, 4-byte big-endian schema id, Avro binary),
 * decoded with Apache Avro into GenericRecords. Encoding writes the record back under the id
 * it was read with, so tables can keep these values in their stores and changelogs.
 *
 * <p>Bytes that are not a whole Avro value of a known schema throw a {@link
 * SerializationException}; the deserialization exception handler skips and counts them.
 */
public final class AvroSerde implements Serde<AvroSerde.Framed> {

    /** A decoded record and the schema id it was framed with. */
    public record Framed(int schemaId, GenericRecord record) {}

    static final byte MAGIC = 0;
    static final int HEADER = 5;

    private final Kind kind;
    private final SchemaSource schemas;
    // Avro readers and writers are thread-safe; the global thread and the stream thread share them.
    private final Map<Schema, GenericDatumReader<GenericRecord>> readers = new ConcurrentHashMap<>();
    private final Map<Schema, GenericDatumWriter<GenericRecord>> writers = new ConcurrentHashMap<>();

    public AvroSerde(Kind kind, SchemaSource schemas) {
        this.kind = kind;
        this.schemas = schemas;
    }

    public Framed decode(byte[] data) {
        if (data == null) {
            return null; // a tombstone
        }
        if (data.length < HEADER) {
            throw new SerializationException(
                    kind + ": " + data.length + " bytes is shorter than the 5-byte Confluent header");
        }
        if (data[0] != MAGIC) {
            throw new SerializationException(String.format("%s: magic byte is 0x%02x, want 0x00", kind, data[0]));
        }
        int id = ByteBuffer.wrap(data, 1, 4).getInt();
        Schema writer;
        try {
            writer = schemas.writerSchema(kind, id);
        } catch (SchemaSource.UnknownSchemaException e) {
            throw new SerializationException(kind + ": " + e.getMessage(), e);
        }
        GenericDatumReader<GenericRecord> reader = readers.computeIfAbsent(writer, GenericDatumReader::new);
        BinaryDecoder in = DecoderFactory.get().binaryDecoder(data, HEADER, data.length - HEADER, null);
        try {
            GenericRecord rec = reader.read(null, in);
            if (!in.isEnd()) {
                throw new SerializationException(kind + ": schema id " + id + ": bytes after the end of the value");
            }
            return new Framed(id, rec);
        } catch (IOException | AvroRuntimeException | IndexOutOfBoundsException | NegativeArraySizeException e) {
            throw new SerializationException(kind + ": schema id " + id + ": " + e, e);
        }
    }

    public byte[] encode(Framed v) {
        if (v == null) {
            return null;
        }
        Schema schema = v.record().getSchema();
        GenericDatumWriter<GenericRecord> writer = writers.computeIfAbsent(schema, GenericDatumWriter::new);
        ByteArrayOutputStream out = new ByteArrayOutputStream(128);
        out.write(MAGIC);
        out.write(v.schemaId() >>> 24);
        out.write(v.schemaId() >>> 16);
        out.write(v.schemaId() >>> 8);
        out.write(v.schemaId());
        BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
        try {
            writer.write(v.record(), enc);
            enc.flush();
        } catch (IOException e) {
            throw new SerializationException(kind + ": encode: " + e, e);
        }
        return out.toByteArray();
    }

    @Override
    public Serializer<Framed> serializer() {
        return (topic, v) -> encode(v);
    }

    @Override
    public Deserializer<Framed> deserializer() {
        return (topic, data) -> decode(data);
    }
}
