package dev.shardline.flink.batch;

import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BucketBatchesTest {

    @Test
    void aKeysValuesShareABucketAndKeepTheirOrder() {
        BucketBatches batches = new BucketBatches(4, 100);
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
            for (Row value : (Row[]) batch.getField(1)) {
                values++;
                assertEquals(batches.bucketOf((String) value.getField(0)), bucket);
                if ("acct-1".equals(value.getField(0))) {
                    acct1.add((Integer) value.getField(1));
                }
            }
        }
        assertEquals(6, values);
        assertEquals(List.of(0, 2, 4), acct1);
        assertTrue(batches.drain().isEmpty());
    }

    @Test
    void aFullBucketLeavesAtOnceAndTheOthersWait() {
        BucketBatches batches = new BucketBatches(1_000, 2);
        String other = "b";
        assertTrue(batches.bucketOf("a") != batches.bucketOf(other));
        assertNull(batches.add("a", Row.of(1)));
        assertNull(batches.add(other, Row.of(2)));
        Row full = batches.add("a", Row.of(3));
        assertEquals(batches.bucketOf("a"), full.getField(0));
        assertArrayEquals(new Row[] {Row.of(1), Row.of(3)}, (Row[]) full.getField(1));
        List<Row> rest = batches.drain();
        assertEquals(1, rest.size());
        assertArrayEquals(new Row[] {Row.of(2)}, (Row[]) rest.get(0).getField(1));
    }

    @Test
    void bucketsAreNeverNegativeAndANullKeyHasOne() {
        BucketBatches batches = new BucketBatches(7, 10);
        for (String key : List.of("polygenelubricants", "", "x", "Aa", "BB")) {
            int bucket = batches.bucketOf(key);
            assertTrue(bucket >= 0 && bucket < 7, key);
        }
        assertEquals(batches.bucketOf(""), batches.bucketOf(null));
    }

    @Test
    void nonsenseSizesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new BucketBatches(0, 10));
        assertThrows(IllegalArgumentException.class, () -> new BucketBatches(4, 0));
        assertThrows(IllegalArgumentException.class, () -> new BucketBatcher(4, 10, 0));
    }
}
