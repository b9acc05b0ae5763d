package dev.shardline.flink.kinesis.exactlyonce;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecordTallyTest {
    private static KinesisCommittable.Entry entry(String key, String data) {
        return new KinesisCommittable.Entry(key, data.getBytes(StandardCharsets.UTF_8));
    }

    private static List<String> texts(List<KinesisCommittable.Entry> entries) {
        return entries.stream().map(e -> e.partitionKey() + "=" + new String(e.data(), StandardCharsets.UTF_8))
                .collect(Collectors.toList());
    }

    @Test
    void nothingOnTheStreamLeavesEveryRecordToWrite() {
        List<KinesisCommittable.Entry> entries = List.of(entry("a", "1"), entry("b", "2"));
        RecordTally tally = new RecordTally(entries);
        assertFalse(tally.complete());
        assertEquals(List.of("a=1", "b=2"), texts(tally.missing()));
    }

    @Test
    void twoIdenticalRecordsWithOneWrittenLeaveOneToWrite() {
        RecordTally tally = new RecordTally(List.of(entry("a", "1"), entry("a", "1"), entry("b", "2")));
        tally.found("a", "1".getBytes(StandardCharsets.UTF_8));
        assertEquals(List.of("a=1", "b=2"), texts(tally.missing()));
        tally.found("b", "2".getBytes(StandardCharsets.UTF_8));
        tally.found("a", "1".getBytes(StandardCharsets.UTF_8));
        assertTrue(tally.complete());
        assertEquals(List.of(), tally.missing());
    }

    @Test
    void extraCopiesAndOtherRecordsOnTheStreamChangeNothing() {
        RecordTally tally = new RecordTally(List.of(entry("a", "1"), entry("b", "2")));
        tally.found("a", "1".getBytes(StandardCharsets.UTF_8));
        tally.found("a", "1".getBytes(StandardCharsets.UTF_8));  // a copy from elsewhere counts once
        tally.found("c", "3".getBytes(StandardCharsets.UTF_8));
        tally.found("b", "1".getBytes(StandardCharsets.UTF_8));  // same data, other key: another record
        assertEquals(List.of("b=2"), texts(tally.missing()));
    }

    @Test
    void theKeyIsPartOfTheDigestWithoutAmbiguity() {
        assertNotEquals(RecordTally.digest("ab", "c".getBytes()), RecordTally.digest("a", "bc".getBytes()));
        assertEquals(RecordTally.digest("a", "bc".getBytes()), RecordTally.digest("a", "bc".getBytes()));
    }
}
