package dev.shardline.flink.kinesis;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KinesisStateTest {

    @Test
    void readerStateResumesAtTheRightPlace() {
        var state = new KinesisStreamsSourceReader.ShardState(KinesisShardSplit.of("s0", List.of("p"), "TRIM_HORIZON", null));
        assertSame(state.split, state.toSplit());  // nothing read yet: the original position
        state.sequenceNumber = "100";
        state.subSequence = 1;
        state.lastInRecord = false;
        KinesisShardSplit inside = state.toSplit();
        assertEquals(List.of("AT_SEQUENCE_NUMBER", "100", 1L), List.of(inside.position, inside.positionValue, inside.skipThroughSubSequence));
        state.lastInRecord = true;
        KinesisShardSplit after = state.toSplit();
        assertEquals(List.of("AFTER_SEQUENCE_NUMBER", "100", -1L), List.of(after.position, after.positionValue, after.skipThroughSubSequence));
        assertEquals(List.of("p"), after.parentShardIds);
    }

    @Test
    void splitsSurviveTheSerializer() throws Exception {
        var serializer = KinesisShardSplit.Serializer.INSTANCE;
        for (KinesisShardSplit split : List.of(
                KinesisShardSplit.of("s0", List.of(), "LATEST", null),
                KinesisShardSplit.of("s1", List.of("a", "b"), "AT_TIMESTAMP", "1700000000000"),
                KinesisShardSplit.of("s2", List.of(), "TRIM_HORIZON", null).resumeAt("49590338271490256608559692538361571095921575989136588898", 7).asFinished())) {
            KinesisShardSplit copy = serializer.deserialize(serializer.getVersion(), serializer.serialize(split));
            assertEquals(split.toString() + split.parentShardIds + split.skipThroughSubSequence,
                    copy.toString() + copy.parentShardIds + copy.skipThroughSubSequence);
            assertEquals(split.finished, copy.finished);
        }
    }

    @Test
    void anythingThatIsNotAWellFormedAggregateIsOnePlainRecord() throws Exception {
        byte[] good = KinesisShardSplitReaderTest.aggregate("a", "b");
        assertEquals(List.of("a", "b"), AggregatedRecords.deaggregate(good).stream()
                .map(b -> new String(b, StandardCharsets.UTF_8)).toList());
        byte[] badDigest = good.clone();
        badDigest[badDigest.length - 1] ^= 1;
        byte[] plain = "hello".getBytes(StandardCharsets.UTF_8);
        byte[] magicOnly = Arrays.copyOf(AggregatedRecords.MAGIC, 20);
        for (byte[] data : List.of(badDigest, plain, magicOnly)) {
            List<byte[]> records = AggregatedRecords.deaggregate(data);
            assertEquals(1, records.size());
            assertArrayEquals(data, records.get(0));
        }
    }

    @Test
    void aTruncatedMessageWithAMatchingDigestIsStillOnePlainRecord() throws Exception {
        byte[] message = {0x1a, 0x7f};  // field 3, length 127, but no bytes follow
        var out = new java.io.ByteArrayOutputStream();
        out.write(AggregatedRecords.MAGIC);
        out.write(message);
        out.write(java.security.MessageDigest.getInstance("MD5").digest(message));
        List<byte[]> records = AggregatedRecords.deaggregate(out.toByteArray());
        assertTrue(records.size() == 1 && Arrays.equals(out.toByteArray(), records.get(0)));
    }

    @Test
    void eachUserRecordKeepsItsOwnPartitionKeyFromTheKeyTable() throws Exception {
        var message = new java.io.ByteArrayOutputStream();
        for (String key : List.of("user-1", "user-2")) {
            message.write((1 << 3) | 2);
            message.write(key.length());
            message.writeBytes(key.getBytes(StandardCharsets.UTF_8));
        }
        for (int i = 0; i < 3; i++) {
            var record = new java.io.ByteArrayOutputStream();
            record.write(1 << 3);
            record.write(i % 2);  // partition_key_index
            record.write((3 << 3) | 2);
            record.write(1);
            record.write('a' + i);
            message.write((3 << 3) | 2);
            message.write(record.size());
            message.writeBytes(record.toByteArray());
        }
        var out = new java.io.ByteArrayOutputStream();
        out.write(AggregatedRecords.MAGIC);
        out.write(message.toByteArray());
        out.write(java.security.MessageDigest.getInstance("MD5").digest(message.toByteArray()));
        var records = AggregatedRecords.deaggregate(out.toByteArray(), "outer");
        assertEquals(List.of("user-1", "user-2", "user-1"),
                records.stream().map(AggregatedRecords.UserRecordData::partitionKey).toList());
        assertEquals(List.of("a", "b", "c"), records.stream()
                .map(r -> new String(r.data(), StandardCharsets.UTF_8)).toList());
        assertEquals("outer", AggregatedRecords.deaggregate("plain".getBytes(StandardCharsets.UTF_8), "outer")
                .get(0).partitionKey(), "a plain record keeps the Kinesis record's key");
    }
}
