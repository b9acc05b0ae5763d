package dev.shardline.flink.batch;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * {@code Row(key STRING, value ROW)} in, {@code Row(bucket INT, Row(column ARRAY, ...))} out: each input's value
 * gathered with the others of its key's bucket, field by field ({@link BucketBatches}), so a keyed Python
 * function downstream (keyed by the bucket) gets one element for many records; PyFlink's cost is per element
 * (and per Row object it builds), not per byte.  When batches leave: {@link BatchingOperator}.
 */
public final class BucketBatcher extends BatchingOperator<Row> {
    private static final long serialVersionUID = 1L;

    private transient TypeSerializer<Row> inputs;

    /** {@code columns}: the class of each field of the values (as {@link BucketBatches} takes them). */
    public BucketBatcher(int buckets, int maxRecords, long maxDelayMs, Class<?>[] columns) {
        super(buckets, maxRecords, maxDelayMs, columns);
    }

    @Override
    public void open() throws Exception {
        super.open();
        // Held values outlive the call: with object reuse the element may be the caller's, refilled next call.
        inputs = getOperatorConfig().getTypeSerializerIn(0, getUserCodeClassloader());
    }

    @Override
    public void processElement(StreamRecord<Row> element) {
        Row input = inputs.copy(element.getValue());
        add((String) input.getField(0), (Row) input.getField(1));
    }
}
