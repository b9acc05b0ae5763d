package dev.shardline.flink.batch;

import org.apache.flink.api.common.functions.util.ListCollector;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BucketBatchesTest {
    private static final Class<?>[] KEY_AND_NUMBER = {String.class, Integer.class};
    private static final Class<?>[] NUMBER = {Integer.class};

    @Test
    void aKeysValuesShareABucketAndKeepTheirOrder() {
        BucketBatches batches = new BucketBatches(4, 100, KEY_AND_NUMBER);
        List<String> keys = List.of("acct-1", "acct-2", "acct-1", "acct-3", "acct-1", "acct-2");
        for (int i = 0; i < keys.size(); i++) {
            assertNull(batches.add(keys.get(i), Row.of(keys.get(i), i)));
        }
        List<Row> drained = batches.drain();
        assertTrue(batches.isEmpty());
        List<Integer> acct1 = new ArrayList<>();
        int values = 0;
        for (Row batch : drained) {
            int bucket = (Integer) batch.getField(0);
            Row columns = (Row) batch.getField(1);
            String[] batchKeys = (String[]) columns.getField(0);
            Integer[] numbers = (Integer[]) columns.getField(1);
            assertEquals(batchKeys.length, numbers.length);
            for (int i = 0; i < batchKeys.length; i++) {
                values++;
                assertEquals(batches.bucketOf(batchKeys[i]), bucket);
                if ("acct-1".equals(batchKeys[i])) {
                    acct1.add(numbers[i]);
                }
            }
        }
        assertEquals(6, values);
        assertEquals(List.of(0, 2, 4), acct1);
        assertTrue(batches.drain().isEmpty());
    }

    @Test
    void aFullBucketLeavesAtOnceAndTheOthersWait() {
        BucketBatches batches = new BucketBatches(1_000, 2, NUMBER);
        String other = "b";
        assertTrue(batches.bucketOf("a") != batches.bucketOf(other));
        assertNull(batches.add("a", Row.of(1)));
        assertNull(batches.add(other, Row.of(2)));
        Row full = batches.add("a", Row.of(3));
        assertEquals(batches.bucketOf("a"), full.getField(0));
        assertEquals(Row.of((Object) new Integer[] {1, 3}), full.getField(1));
        List<Row> rest = batches.drain();
        assertEquals(1, rest.size());
        assertEquals(Row.of((Object) new Integer[] {2}), rest.get(0).getField(1));
    }

    @Test
    void bucketsAreNeverNegativeAndANullKeyHasOne() {
        BucketBatches batches = new BucketBatches(7, 10, NUMBER);
        for (String key : List.of("polygenelubricants", "", "x", "Aa", "BB")) {
            int bucket = batches.bucketOf(key);
            assertTrue(bucket >= 0 && bucket < 7, key);
        }
        assertEquals(batches.bucketOf(""), batches.bucketOf(null));
    }

    @Test
    void nonsenseSizesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new BucketBatches(0, 10, NUMBER));
        assertThrows(IllegalArgumentException.class, () -> new BucketBatches(4, 0, NUMBER));
        assertThrows(IllegalArgumentException.class, () -> new BucketBatches(4, 10, new Class<?>[0]));
        assertThrows(IllegalArgumentException.class, () -> new BucketBatcher(4, 10, 0, NUMBER));
        assertThrows(IllegalArgumentException.class, () -> new BucketBatches(4, 10, NUMBER).add("a", Row.of(1, 2)));
    }

    @Test
    void unbatchTurnsColumnsBackIntoRowsInOrder() {
        List<Row> rows = new ArrayList<>();
        Collector<Row> collect = new ListCollector<>(rows);
        new Unbatch().flatMap(Row.of(new String[] {"a", "b", null}, new Long[] {1L, null, 3L}), collect);
        assertEquals(List.of(Row.of("a", 1L), Row.of("b", null), Row.of(null, 3L)), rows);
        new Unbatch().flatMap(Row.of(new String[0], new Long[0]), collect);
        assertEquals(3, rows.size());
        assertThrows(IllegalArgumentException.class,
                () -> new Unbatch().flatMap(Row.of(new String[] {"a"}, new Long[0]), collect));
    }
}
