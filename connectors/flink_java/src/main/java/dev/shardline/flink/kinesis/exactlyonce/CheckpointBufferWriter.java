package dev.shardline.flink.kinesis.exactlyonce;

import org.apache.flink.api.connector.sink2.CommittingSinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.connector.base.sink.writer.ElementConverter;

import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Holds one checkpoint interval of records and hands them over as one committable at the checkpoint barrier (and
 * at the end of input); the committer writes them once that checkpoint completes, so nothing reaches Kinesis
 * that a restore could emit again.
 *
 * <p>Memory: each subtask holds its output of one checkpoint interval here, and the committer keeps the
 * committables of checkpoints not yet complete (in memory and in the checkpoint).  Long intervals or slow
 * checkpoints at high rates need the heap for it: 1,000 records/s of 1 KiB each for 60 s is about 60 MiB.
 *
 * <p>Records are checked here, before their checkpoint, against Kinesis's limits: a committable that Kinesis
 * refuses would fail every restore from the checkpoint that holds it.
 */
final class CheckpointBufferWriter<InputT> implements CommittingSinkWriter<InputT, KinesisCommittable> {
    /** Kinesis's limit on one record: data and partition key together. */
    static final long MAX_RECORD_BYTES = 1024 * 1024;
    static final int MAX_PARTITION_KEY_CHARS = 256;

    private final ElementConverter<InputT, PutRecordsRequestEntry> converter;
    private final int subtask;
    private final LongSupplier clock;
    private List<KinesisCommittable.Entry> buffer = new ArrayList<>();

    CheckpointBufferWriter(ElementConverter<InputT, PutRecordsRequestEntry> converter, WriterInitContext context,
                           LongSupplier clock) {
        this.converter = converter;
        this.subtask = context.getTaskInfo().getIndexOfThisSubtask();
        this.clock = clock;
        converter.open(context);
    }

    @Override
    public void write(InputT element, Context context) {
        PutRecordsRequestEntry entry = converter.apply(element, context);
        if (entry.explicitHashKey() != null) {
            throw new IllegalArgumentException("the exactly-once Kinesis sink routes records by partition key only: "
                    + "its element converter must not set an explicit hash key");
        }
        String key = entry.partitionKey();
        if (key == null || key.isEmpty() || key.length() > MAX_PARTITION_KEY_CHARS) {
            throw new IllegalArgumentException("a Kinesis partition key must have 1 to " + MAX_PARTITION_KEY_CHARS
                    + " characters, not " + (key == null ? 0 : key.length()));
        }
        KinesisCommittable.Entry record = new KinesisCommittable.Entry(key, entry.data().asByteArrayUnsafe());
        if (record.size() > MAX_RECORD_BYTES) {
            throw new IllegalArgumentException("a record of " + record.size() + " bytes (data and partition key) is "
                    + "over Kinesis's limit of " + MAX_RECORD_BYTES);
        }
        buffer.add(record);
    }

    /** Nothing to do: records leave only as a committable, after their checkpoint. */
    @Override
    public void flush(boolean endOfInput) {}

    @Override
    public Collection<KinesisCommittable> prepareCommit() {
        if (buffer.isEmpty()) {
            return List.of();
        }
        KinesisCommittable committable = new KinesisCommittable(subtask, clock.getAsLong(), buffer);
        buffer = new ArrayList<>();
        return List.of(committable);
    }

    @Override
    public void close() {}
}
