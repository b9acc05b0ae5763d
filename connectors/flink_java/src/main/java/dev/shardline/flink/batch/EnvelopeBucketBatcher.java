package dev.shardline.flink.batch;

import dev.shardline.flink.envelope.PayloadField;

import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.types.Row;

import java.util.Arrays;

/**
 * The rows of a {@code shardline-kinesis} table in the {@code shardline-envelope} format, as the table holds
 * them ({@code RowData}), batched by the bucket of a top-level string field of their payload:
 * {@code Row(bucket INT, Row(payload BYTES[], error STRING[], raw BYTES[], position STRING[]))}, the payload's
 * JSON as UTF-8, {@code error} why a record is no envelope, its bytes and its position
 * ({@code kinesis:<stream>/<shard>/<sequence>[:<sub-sequence>]}, as every engine writes it) for a dead letter.
 * A record with no such field (or no envelope) is keyed by {@code ''}.  When batches leave:
 * {@link BatchingOperator}.
 *
 * <p>What SQL and {@link BucketBatcher} did in three steps, in one: a query computing the key and the position
 * ran as a Calc, which copies every string and byte array it reads, and its rows were then converted to Java
 * {@code Row}s, strings decoded, for the batcher: together half of the source's thread (JFR of the
 * event-sourcing job).  Here each field is read once from the table's row.
 */
public final class EnvelopeBucketBatcher extends BatchingOperator<RowData> {
    private static final long serialVersionUID = 1L;
    private static final Class<?>[] COLUMNS = {byte[].class, String.class, byte[].class, String.class};

    private final String keyField;
    private final String positionPrefix;
    private final int payload;
    private final int error;
    private final int raw;
    private final int shard;
    private final int sequence;
    private final int subSequence;
    private transient StringData lastShard;
    private transient String shardPrefix;

    /**
     * {@code fields}: the index in the table's row of its {@code payload}, {@code error}, {@code raw},
     * shard id, sequence number and sub-sequence number columns, in this order; {@code stream}: the stream's
     * name, as positions carry it.
     */
    public EnvelopeBucketBatcher(String keyField, String stream, int[] fields, int buckets, int maxRecords,
                                 long maxDelayMs) {
        super(buckets, maxRecords, maxDelayMs, COLUMNS);
        if (fields.length != 6) {
            throw new IllegalArgumentException("fields: the indexes of payload, error, raw, shard, sequence and "
                    + "sub-sequence, got " + fields.length);
        }
        this.keyField = keyField;
        this.positionPrefix = "kinesis:" + stream + "/";
        this.payload = fields[0];
        this.error = fields[1];
        this.raw = fields[2];
        this.shard = fields[3];
        this.sequence = fields[4];
        this.subSequence = fields[5];
    }

    @Override
    public void processElement(StreamRecord<RowData> element) {
        RowData row = element.getValue();
        // Held values outlive the call: the payload's bytes are its own (toBytes copies a slice of the record),
        // the record's bytes are copied.
        byte[] json = row.isNullAt(payload) ? null : row.getString(payload).toBytes();
        String key = PayloadField.stringField(json, keyField);
        String reason = row.isNullAt(error) ? null : row.getString(error).toString();
        byte[] bytes = null;
        if (!row.isNullAt(raw)) {
            byte[] record = row.getBinary(raw);
            bytes = Arrays.copyOf(record, record.length);
        }
        add(key == null ? "" : key, Row.of(json, reason, bytes, position(row)));
    }

    /** As SQL's CONCAT gives it: null without a shard or a sequence number. */
    private String position(RowData row) {
        if (row.isNullAt(shard) || row.isNullAt(sequence)) {
            return null;
        }
        StringData shardId = row.getString(shard);
        if (!shardId.equals(lastShard)) {  // a shard's records come in runs: its part is made once a run
            lastShard = shardId;
            shardPrefix = positionPrefix + shardId + "/";
        }
        StringBuilder text = new StringBuilder(shardPrefix.length() + 64).append(shardPrefix)
                .append(row.getString(sequence).toString());
        long sub = row.isNullAt(subSequence) ? 0 : row.getLong(subSequence);
        if (sub > 0) {
            text.append(':').append(sub);
        }
        return text.toString();
    }
}
