package dev.shardline.flink.batch;

import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * What every bucket batcher does once its input is a key and a value ({@link #add}): a bucket's batch leaves
 * when it holds {@code maxRecords}, and every batch leaves {@code maxDelayMs} of processing time after the first
 * value held, before each checkpoint barrier ({@code prepareSnapshotPreBarrier}: nothing is held across a
 * checkpoint, so the operator has no state), before each watermark (an event-time timer downstream never fires
 * ahead of the values it covers: the final watermark of a bounded input comes after its last batch), and at the
 * end of input.  Batches are {@link BucketBatches}'.
 */
abstract class BatchingOperator<IN> extends AbstractStreamOperator<Row>
        implements OneInputStreamOperator<IN, Row>, BoundedOneInput, ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    private final int buckets;
    private final int maxRecords;
    private final long maxDelayMs;
    private final Class<?>[] columns;
    private transient BucketBatches batches;
    private transient boolean timerSet;

    /** {@code columns}: the class of each field of the values (as {@link BucketBatches} takes them). */
    BatchingOperator(int buckets, int maxRecords, long maxDelayMs, Class<?>[] columns) {
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
    }

    /** Holds {@code value} (a Row of its own: it outlives the call) in the bucket of {@code key}. */
    final void add(String key, Row value) {
        Row full = batches.add(key, value);
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
