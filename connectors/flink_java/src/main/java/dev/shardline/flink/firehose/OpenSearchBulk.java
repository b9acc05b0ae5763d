package dev.shardline.flink.firehose;

import dev.shardline.flink.envelope.Json;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

import java.nio.charset.StandardCharsets;

/**
 * {@code LATERAL TABLE(opensearch_bulk(index, id, type, source, event_time, partition_key, schema, payload_json))
 * -> (entry BYTES, error_type STRING, reason STRING)}: an envelope's columns as one OpenSearch bulk
 * entry (an {@code index} action line and the record's JSON line), or why it cannot be one.
 *
 * <p>The bytes are those of {@code connectors.sinks.opensearch.opensearch_bulk} in Python, which the KCL
 * and local engines give their Firehose sinks, so every engine delivers the same bytes (the document id is
 * the record id: a record delivered twice is indexed once).  An entry over Firehose's record limit, or an
 * id over OpenSearch's, gives no entry but the error type and reason the Python writer gives, so a job
 * sends it to its dead letters instead of failing.
 *
 * <p>A table function, one row a record: the planner inlines a scalar function's ROW into each field read
 * from it, and Flink 2.2's generated code then builds the entry once a field (three times a record).
 */
@FunctionHint(output = @DataTypeHint("ROW<entry BYTES, error_type STRING, reason STRING>"))
public final class OpenSearchBulk extends TableFunction<Row> {
    private static final long serialVersionUID = 1L;
    static final int MAX_ID_BYTES = 512;

    private transient String lastIndex;
    private transient String indexJson;

    public void eval(String index, String id, String type, String source, Long eventTime, String partitionKey,
                     String schema, String payloadJson) {
        collect(row(index, id, type, source, eventTime, partitionKey, schema, payloadJson));
    }

    /** The entry, or why there is none. */
    Row row(String index, String id, String type, String source, Long eventTime, String partitionKey,
            String schema, String payloadJson) {
        if (id.getBytes(StandardCharsets.UTF_8).length > MAX_ID_BYTES) {
            return Row.of(null, "SerializationException", "firehose cannot encode the record: record id is "
                    + "longer than OpenSearch's " + MAX_ID_BYTES + "-byte _id limit");
        }
        if (!index.equals(lastIndex)) {
            lastIndex = index;
            indexJson = Json.quote(index, true);  // Python's json.dumps(index): ASCII escapes
        }
        String quotedId = Json.quote(id);
        String entry = "{\"index\":{\"_index\":" + indexJson + ",\"_id\":" + quotedId + "}}\n"
                + "{\"id\":" + quotedId + ",\"type\":" + Json.quote(type) + ",\"source\":" + Json.quote(source)
                + ",\"event_time\":" + eventTime + ",\"partition_key\":" + Json.quote(partitionKey)
                + ",\"schema\":" + (schema == null ? "null" : Json.quote(schema)) + ",\"payload\":" + payloadJson
                + "}\n";
        byte[] bytes = entry.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > FirehoseSink.MAX_RECORD_BYTES) {
            return Row.of(null, "RecordTooLarge", "bulk entry of " + bytes.length + " bytes is over Firehose's "
                    + FirehoseSink.MAX_RECORD_BYTES);
        }
        return Row.of(bytes, null, null);
    }
}
