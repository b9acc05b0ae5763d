package dev.shardline.flink.firehose;

import dev.shardline.flink.envelope.Json;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

import java.nio.charset.StandardCharsets;

/**
 * {@code opensearch_bulk(index, id, type, source, event_time, partition_key, schema, payload_json)
 * -> ROW(entry BYTES, error_type STRING, reason STRING)}: an envelope's columns as one OpenSearch bulk
 * entry (an {@code index} action line and the record's JSON line), or why it cannot be one.
 *
 * <p>The bytes are those of {@code connectors.sinks.opensearch.opensearch_bulk} in Python, which the KCL
 * and local engines give their Firehose sinks, so every engine delivers the same bytes (the document id is
 * the record id: a record delivered twice is indexed once).  An entry over Firehose's record limit, or an
 * id over OpenSearch's, gives no entry but the error type and reason the Python writer gives, so a job
 * sends it to its dead letters instead of failing.
 */
public final class OpenSearchBulk extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    static final int MAX_ID_BYTES = 512;

    private transient String lastIndex;
    private transient String indexJson;

    @DataTypeHint("ROW<entry BYTES, error_type STRING, reason STRING>")
    public Row eval(String index, String id, String type, String source, Long eventTime, String partitionKey,
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
