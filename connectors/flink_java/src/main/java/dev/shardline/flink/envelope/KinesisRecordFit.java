package dev.shardline.flink.envelope;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

import java.nio.charset.StandardCharsets;

/**
 * {@code kinesis_record_fit(id, type, source, event_time, partition_key, schema, payload_json)
 * -> ROW<error_type STRING, reason STRING>}: NULL when the envelope and its partition key fit one Kinesis
 * record (1 MiB), else why not, in the words of {@code pipelines.engine.RecordPath}, so a job sends an output
 * that grew past the limit (masking can lengthen values) to its dead letters instead of failing at the sink.
 *
 * <p>Most records are far under the limit: a bound from the text lengths settles them without encoding.  A
 * scalar function, so the planner folds it into the projection after the Python step: as a table function
 * ({@code LATERAL TABLE}) it took a Correlate and one more Calc a record, and every Calc copies each string
 * column it passes on.  A record without a payload (refused upstream) has nothing to check.
 */
public final class KinesisRecordFit extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    public static final int MAX_RECORD_BYTES = 1024 * 1024;

    /** Strings as Flink holds them (UTF-8 bytes): the bound needs their sizes only, and most records no more. */
    public @DataTypeHint("ROW<error_type STRING, reason STRING>") Row eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData id,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData type,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData source,
            Long eventTime,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData partitionKey,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData schema,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData payloadJson) {
        if (payloadJson == null) {
            return null;
        }
        if (bound(size(id), size(type), size(source), size(partitionKey), size(schema), size(payloadJson))
                <= MAX_RECORD_BYTES) {
            return null;  // as check would say: a string has at least as many UTF-8 bytes as UTF-16 units
        }
        Row misfit = measured(text(id), text(type), text(source), eventTime, text(partitionKey), text(schema),
                payloadJson.toString());
        return misfit == FITS ? null : misfit;
    }

    private static int size(StringData text) {
        return text == null ? 0 : text instanceof BinaryStringData binary ? binary.getSizeInBytes()
                : text.toBytes().length;
    }

    private static String text(StringData text) {
        return text == null ? null : text.toString();
    }

    private static final Row FITS = Row.of(null, null);

    /** NULLs when the record fits, else its error type and reason. */
    static Row check(String id, String type, String source, Long eventTime, String partitionKey, String schema,
                     String payloadJson) {
        if (bound(id.length(), type.length(), source.length(), partitionKey.length(),
                schema == null ? 0 : schema.length(), payloadJson.length()) <= MAX_RECORD_BYTES) {
            return FITS;
        }
        return measured(id, type, source, eventTime, partitionKey, schema, payloadJson);
    }

    /** {@link #check} by encoding the envelope: for a record the bound does not settle. */
    private static Row measured(String id, String type, String source, Long eventTime, String partitionKey,
                                String schema, String payloadJson) {
        long size;
        try {
            size = EnvelopeCodec.encode(new EnvelopeCodec.Envelope(id, type, source, eventTime, partitionKey, schema,
                    payloadJson)).length + (long) partitionKey.getBytes(StandardCharsets.UTF_8).length;
        } catch (EnvelopeCodec.EnvelopeException e) {
            return Row.of("RecordValidationError", e.getMessage());
        }
        if (size <= MAX_RECORD_BYTES) {
            return FITS;
        }
        return Row.of("RecordTooLarge", "an output record is " + size + " bytes (envelope and partition key); "
                + "a Kinesis record holds at most " + MAX_RECORD_BYTES);
    }

    /**
     * An upper bound of the Avro envelope plus partition key from the lengths of its texts, in UTF-16 units or
     * in UTF-8 bytes: 3 UTF-8 bytes a unit (so a byte count bounds it too); for the payload's JSON text, whose
     * entries take 6 characters at least, 22 bytes of varints and union branches an entry.
     */
    static long bound(long id, long type, long source, long partitionKey, long schema, long payloadJson) {
        long bound = 64;
        for (long length : new long[] {id, type, source, partitionKey, partitionKey, schema}) {
            bound += 3L * length + 11;
        }
        return bound + 3L * payloadJson + 22L * (payloadJson / 6 + 1);
    }
}
