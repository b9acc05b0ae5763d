package dev.shardline.flink.kinesis.exactlyonce;

import java.util.ArrayList;
import java.util.List;

/**
 * One checkpoint interval of one writer subtask's output, to be written to Kinesis once the checkpoint
 * holding it completes.  The creation time tells a committer after a restore from where on to read the
 * stream back (what an earlier run may already have written was written after this time).
 */
public final class KinesisCommittable {
    /** One Kinesis record: its partition key and data, as the writer's element converter made them. */
    public record Entry(String partitionKey, byte[] data) {
        /** Bytes this record counts toward Kinesis's limits (1 MiB a record, 5 MiB a PutRecords call). */
        public long size() {
            return data.length + partitionKey.length();
        }
    }

    private final int subtask;
    private final long createdAtMillis;
    private final List<Entry> entries;

    public KinesisCommittable(int subtask, long createdAtMillis, List<Entry> entries) {
        this.subtask = subtask;
        this.createdAtMillis = createdAtMillis;
        this.entries = List.copyOf(entries);
    }

    /** A committable built record by record (tests and the py4j gateway, where a Java record is awkward). */
    public static Builder builder(int subtask, long createdAtMillis) {
        return new Builder(subtask, createdAtMillis);
    }

    public int subtask() {
        return subtask;
    }

    public long createdAtMillis() {
        return createdAtMillis;
    }

    public List<Entry> entries() {
        return entries;
    }

    /** No record contents: Flink puts a committable's text into failure messages, and records may hold PII. */
    @Override
    public String toString() {
        return "KinesisCommittable{subtask=" + subtask + ", createdAtMillis=" + createdAtMillis
                + ", records=" + entries.size() + "}";
    }

    public static final class Builder {
        private final int subtask;
        private final long createdAtMillis;
        private final List<Entry> entries = new ArrayList<>();

        private Builder(int subtask, long createdAtMillis) {
            this.subtask = subtask;
            this.createdAtMillis = createdAtMillis;
        }

        public Builder add(String partitionKey, byte[] data) {
            entries.add(new Entry(partitionKey, data));
            return this;
        }

        public KinesisCommittable build() {
            return new KinesisCommittable(subtask, createdAtMillis, entries);
        }
    }
}
