package dev.shardline.flink.batch;

import org.apache.flink.types.Row;

import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.List;

/**
 * Values gathered by the bucket of their key, in arrival order: what {@link BucketBatcher} holds between its
 * flushes.  A bucket is {@code floorMod(key.hashCode(), buckets)}, so every value of a key lands in one bucket
 * and a key's values keep their order within it.
 *
 * <p>A batch is {@code Row(bucket INT, Row(column ARRAY, ...))}: the values' fields as one array a field (the
 * value {@code Row(a, b)} in a batch of n is {@code a} at index i of the first array and {@code b} of the
 * second), the element a keyed Python function gets, keyed by the bucket.  Columns, not an array of rows:
 * PyFlink builds a Python {@code Row} object for every row it decodes (about 2.5 us each), and an array of
 * strings decodes straight to a list.
 */
public final class BucketBatches {
    private final int buckets;
    private final int maxRecords;
    private final Class<?>[] columns;
    private final List<List<Row>> open;
    private int held;

    /** {@code columns}: each field's class, as the batch's arrays hold it (String, Long, byte[]...). */
    public BucketBatches(int buckets, int maxRecords, Class<?>[] columns) {
        check(buckets, maxRecords, columns);
        this.buckets = buckets;
        this.maxRecords = maxRecords;
        this.columns = columns.clone();
        this.open = new ArrayList<>(buckets);
        for (int i = 0; i < buckets; i++) {
            open.add(new ArrayList<>());
        }
    }

    /** Refuses a count of buckets or a batch size below 1, and a value with no fields. */
    static void check(int buckets, int maxRecords, Class<?>[] columns) {
        if (buckets < 1 || maxRecords < 1) {
            throw new IllegalArgumentException("buckets and maxRecords must be 1 or more, got " + buckets + " and "
                    + maxRecords);
        }
        if (columns == null || columns.length == 0) {
            throw new IllegalArgumentException("a batch needs the class of each of its values' fields, got none");
        }
    }

    /** The bucket of {@code key} (null: bucket of the empty string, as a record with no key). */
    public int bucketOf(String key) {
        return Math.floorMod(key == null ? 0 : key.hashCode(), buckets);
    }

    /** Adds {@code value} to its key's bucket; returns that bucket's batch once it holds maxRecords, else null. */
    public Row add(String key, Row value) {
        if (value.getArity() != columns.length) {
            throw new IllegalArgumentException("a value has " + value.getArity() + " fields, the batch "
                    + columns.length);
        }
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
        int size = values.size();
        Row batch = new Row(columns.length);
        for (int column = 0; column < columns.length; column++) {
            // Arrays of the field's own class: Flink's array serializers cast to it (String[], not Object[]).
            Object[] array = (Object[]) Array.newInstance(columns[column], size);
            for (int i = 0; i < size; i++) {
                array[i] = values.get(i).getField(column);
            }
            batch.setField(column, array);
        }
        held -= size;
        values.clear();
        return Row.of(bucket, batch);
    }
}
