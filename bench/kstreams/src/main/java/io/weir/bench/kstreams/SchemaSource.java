package io.weir.bench.kstreams;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;

/** Finds the writer schema of a Confluent-framed record. */
public interface SchemaSource {

    /**
     * The writer schema of a record of kind {@code kind} framed with schema id {@code id}.
     *
     * @throws UnknownSchemaException if there is no such schema (the record is malformed)
     * @throws RegistryUnavailableException if the registry could not be asked (not the record's fault)
     */
    Schema writerSchema(Kind kind, int id);

    /** The schema id does not name a usable schema: the record is malformed. */
    final class UnknownSchemaException extends RuntimeException {
        UnknownSchemaException(String msg) {
            super(msg);
        }
    }

    /** The registry failed to answer: processing must stop, not skip the record. */
    final class RegistryUnavailableException extends RuntimeException {
        RegistryUnavailableException(String msg, Throwable cause) {
            super(msg, cause);
        }
    }

    /** Schemas from a directory of .avsc files, one per kind; the id is ignored. */
    static SchemaSource fromDir(Path dir) throws IOException {
        Map<Kind, Schema> schemas = new EnumMap<>(Kind.class);
        for (Kind k : Kind.values()) {
            // A parser per file: the files repeat the shared named types (EventContext...).
            schemas.put(k, new Schema.Parser().parse(Files.readString(dir.resolve(k.file))));
        }
        return (kind, id) -> schemas.get(kind);
    }

    /** Schemas fetched by id from a Confluent-compatible registry (GET /schemas/ids/{id}), cached. */
    static SchemaSource fromRegistry(String baseUrl) {
        return new Registry(baseUrl);
    }

    final class Registry implements SchemaSource {
        private static final ObjectMapper JSON = new ObjectMapper();
        private final String base;
        private final HttpClient http =
                HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        private final Map<Integer, Schema> cache = new ConcurrentHashMap<>();

        Registry(String baseUrl) {
            this.base = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        }

        @Override
        public Schema writerSchema(Kind kind, int id) {
            Schema s = cache.get(id);
            if (s == null) {
                s = fetch(id);
                cache.putIfAbsent(id, s);
            }
            return s;
        }

        private Schema fetch(int id) {
            HttpRequest req = HttpRequest.newBuilder(URI.create(base + "/schemas/ids/" + id))
                    .timeout(Duration.ofSeconds(10))
                    .header("Accept", "application/vnd.schemaregistry.v1+json, application/json")
                    .GET()
                    .build();
            HttpResponse<String> resp;
            try {
                resp = http.send(req, HttpResponse.BodyHandlers.ofString());
            } catch (IOException e) {
                throw new RegistryUnavailableException("registry: GET schema id " + id + ": " + e, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new RegistryUnavailableException("registry: interrupted fetching schema id " + id, e);
            }
            if (resp.statusCode() == 404) {
                throw new UnknownSchemaException("registry: schema id " + id + " not found");
            }
            if (resp.statusCode() != 200) {
                throw new RegistryUnavailableException(
                        "registry: GET schema id " + id + ": HTTP " + resp.statusCode() + ": " + resp.body(), null);
            }
            try {
                JsonNode body = JSON.readTree(resp.body());
                JsonNode schema = body.get("schema");
                if (schema == null || !schema.isTextual()) {
                    throw new UnknownSchemaException("registry: schema id " + id + ": no \"schema\" in answer");
                }
                JsonNode type = body.get("schemaType");
                if (type != null && !type.isNull() && !"AVRO".equals(type.asText())) {
                    throw new UnknownSchemaException("registry: schema id " + id + " is " + type.asText() + ", not Avro");
                }
                return new Schema.Parser().parse(schema.asText());
            } catch (IOException | SchemaParseException e) {
                throw new UnknownSchemaException("registry: schema id " + id + " is not usable Avro: " + e);
            }
        }
    }
}
