package dev.shardline.flink.batch;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.types.Row;

/**
 * {@code Row(key STRING, value ROW)} in, {@code Row(bucket INT, Row(column ARRAY, ...))} out: each input's value
 * gathered with the others of its key's bucket, field by field ({@link BucketBatches}), so a keyed Python
 * function downstream (keyed by the bucket) gets one element for many records; PyFlink's cost is per element
 * (and per Row object it builds), not per byte.
 *
 * <p>A bucket's batch leaves when it holds {@code maxRecords}, and every batch leaves {@code maxDelayMs} of
 * processing time after the first value held, before each checkpoint barrier ({@code prepareSnapshotPreBarrier}:
 * nothing is held across a checkpoint, so the operator has no state), before each watermark (an event-time
 * timer downstream never fires ahead of the values it covers: the final watermark of a bounded input comes
 * after its last batch), and at the end of input.
 */
public final class BucketBatcher extends AbstractStreamOperator<Row>
        implements OneInputStreamOperator<Row, Row>, BoundedOneInput, ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    private final int buckets;
    private final int maxRecords;
    private final long maxDelayMs;
    private final Class<?>[] columns;
    private transient BucketBatches batches;
    private transient TypeSerializer<Row> inputs;
    private transient boolean timerSet;

    /** {@code columns}: the class of each field of the values (as {@link BucketBatches} takes them). */
    public BucketBatcher(int buckets, int maxRecords, long maxDelayMs, Class<?>[] columns) {
        BucketBatches.check(buckets, maxRecords, columns); // where the job is built, not on a worker
        if (maxDelayMs < 1) {
            throw new IllegalArgumentException("maxDelayMs must be 1 or more, got " + maxDelayMs);
        }
        this.buckets = buckets;
        this.maxRecords = maxRecords;
        this.maxDelayMs = maxDelayMs;
        this.columns = columns.clone();
    }

    @Override
    public void open() throws Exception {
        super.open();
        batches = new BucketBatches(buckets, maxRecords, columns);
        // Held values outlive the call: with object reuse the element may be the caller's, refilled next call.
        inputs = getOperatorConfig().getTypeSerializerIn(0, getUserCodeClassloader());
    }

    @Override
    public void processElement(StreamRecord<Row> element) {
        Row input = inputs.copy(element.getValue());
        Row full = batches.add((String) input.getField(0), (Row) input.getField(1));
        if (full != null) {
            output.collect(new StreamRecord<>(full));
        }
        if (!timerSet && !batches.isEmpty()) {
            timerSet = true;
            getProcessingTimeService().registerTimer(
                    getProcessingTimeService().getCurrentProcessingTime() + maxDelayMs, this);
        }
    }

    @Override
    public void onProcessingTime(long time) {
        timerSet = false;
        flush();
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        flush();
        super.processWatermark(mark);
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        flush();
        super.prepareSnapshotPreBarrier(checkpointId);
    }

    @Override
    public void endInput() {
        flush();
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }

    private void flush() {
        for (Row batch : batches.drain()) {
            output.collect(new StreamRecord<>(batch));
        }
    }
}
