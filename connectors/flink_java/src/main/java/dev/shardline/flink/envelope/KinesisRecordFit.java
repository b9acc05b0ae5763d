package dev.shardline.flink.envelope;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

import java.nio.charset.StandardCharsets;

/**
 * {@code LATERAL TABLE(kinesis_record_fit(id, type, source, event_time, partition_key, schema, payload_json))
 * -> (error_type STRING, reason STRING)}: NULLs when the envelope and its partition key fit one Kinesis
 * record (1 MiB), else why not, in the words of {@code pipelines.engine.RecordPath}, so a job sends an output
 * that grew past the limit (masking can lengthen values) to its dead letters instead of failing at the sink.
 *
 * <p>Most records are far under the limit: a bound from the text lengths settles them without encoding.  A
 * table function, one row a record, so that reading its two fields does not check twice (see OpenSearchBulk);
 * a record without a payload (refused upstream) has nothing to check.
 */
@FunctionHint(output = @DataTypeHint("ROW<error_type STRING, reason STRING>"))
public final class KinesisRecordFit extends TableFunction<Row> {
    private static final long serialVersionUID = 1L;
    public static final int MAX_RECORD_BYTES = 1024 * 1024;

    public void eval(String id, String type, String source, Long eventTime, String partitionKey, String schema,
                     String payloadJson) {
        collect(payloadJson == null ? Row.of(null, null)
                : check(id, type, source, eventTime, partitionKey, schema, payloadJson));
    }

    /** NULLs when the record fits, else its error type and reason. */
    static Row check(String id, String type, String source, Long eventTime, String partitionKey, String schema,
                     String payloadJson) {
        if (bound(id, type, source, partitionKey, schema, payloadJson) <= MAX_RECORD_BYTES) {
            return Row.of(null, null);
        }
        long size;
        try {
            size = EnvelopeCodec.encode(new EnvelopeCodec.Envelope(id, type, source, eventTime, partitionKey, schema,
                    payloadJson)).length + (long) partitionKey.getBytes(StandardCharsets.UTF_8).length;
        } catch (EnvelopeCodec.EnvelopeException e) {
            return Row.of("RecordValidationError", e.getMessage());
        }
        if (size <= MAX_RECORD_BYTES) {
            return Row.of(null, null);
        }
        return Row.of("RecordTooLarge", "an output record is " + size + " bytes (envelope and partition key); "
                + "a Kinesis record holds at most " + MAX_RECORD_BYTES);
    }

    /**
     * An upper bound of the Avro envelope plus partition key: 3 UTF-8 bytes a UTF-16 unit; for the payload's
     * JSON text, whose entries take 6 characters at least, 22 bytes of varints and union branches an entry.
     */
    static long bound(String id, String type, String source, String partitionKey, String schema, String payloadJson) {
        long bound = 64;
        for (String text : new String[] {id, type, source, partitionKey, partitionKey, schema == null ? "" : schema}) {
            bound += 3L * text.length() + 11;
        }
        return bound + 3L * payloadJson.length() + 22L * (payloadJson.length() / 6 + 1);
    }
}
