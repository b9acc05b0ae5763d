package dev.shardline.flink.batch;

import org.apache.flink.types.Row;

import java.util.ArrayList;
import java.util.List;

/**
 * Values gathered by the bucket of their key, in arrival order: what {@link BucketBatcher} holds between its
 * flushes.  A bucket is {@code floorMod(key.hashCode(), buckets)}, so every value of a key lands in one bucket
 * and a key's values keep their order within it.
 *
 * <p>A batch is {@code Row(bucket INT, values ROW[])}: the element a keyed Python function gets, keyed by the
 * bucket, one crossing to Python for many records.
 */
public final class BucketBatches {
    private final int buckets;
    private final int maxRecords;
    private final List<List<Row>> open;
    private int held;

    public BucketBatches(int buckets, int maxRecords) {
        check(buckets, maxRecords);
        this.buckets = buckets;
        this.maxRecords = maxRecords;
        this.open = new ArrayList<>(buckets);
        for (int i = 0; i < buckets; i++) {
            open.add(new ArrayList<>());
        }
    }

    /** Refuses a count of buckets or a batch size below 1. */
    static void check(int buckets, int maxRecords) {
        if (buckets < 1 || maxRecords < 1) {
            throw new IllegalArgumentException("buckets and maxRecords must be 1 or more, got " + buckets + " and "
                    + maxRecords);
        }
    }

    /** The bucket of {@code key} (null: bucket of the empty string, as a record with no key). */
    public int bucketOf(String key) {
        return Math.floorMod(key == null ? 0 : key.hashCode(), buckets);
    }

    /** Adds {@code value} to its key's bucket; returns that bucket's batch once it holds maxRecords, else null. */
    public Row add(String key, Row value) {
        int bucket = bucketOf(key);
        List<Row> values = open.get(bucket);
        values.add(value);
        held++;
        return values.size() >= maxRecords ? take(bucket) : null;
    }

    /** Every bucket's batch that holds values, in bucket order; nothing is held after. */
    public List<Row> drain() {
        List<Row> batches = new ArrayList<>();
        for (int bucket = 0; held > 0 && bucket < buckets; bucket++) {
            if (!open.get(bucket).isEmpty()) {
                batches.add(take(bucket));
            }
        }
        return batches;
    }

    public boolean isEmpty() {
        return held == 0;
    }

    private Row take(int bucket) {
        List<Row> values = open.get(bucket);
        held -= values.size();
        Row batch = Row.of(bucket, values.toArray(new Row[0]));
        values.clear();
        return batch;
    }
}
