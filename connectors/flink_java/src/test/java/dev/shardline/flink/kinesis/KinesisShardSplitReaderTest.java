package dev.shardline.flink.kinesis;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.source.reader.RecordsWithSplitIds;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsAddition;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.GetRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.GetShardIteratorRequest;
import software.amazon.awssdk.services.kinesis.model.GetShardIteratorResponse;
import software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException;
import software.amazon.awssdk.services.kinesis.model.Record;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class KinesisShardSplitReaderTest {

    /** A KinesisClient that answers GetRecords from a script and records the iterator requests. */
    private static final class ScriptedKinesis implements KinesisClient {
        final Deque<Object> responses = new ArrayDeque<>();
        final List<GetShardIteratorRequest> iteratorRequests = new ArrayList<>();

        @Override
        public GetShardIteratorResponse getShardIterator(GetShardIteratorRequest request) {
            iteratorRequests.add(request);
            return GetShardIteratorResponse.builder().shardIterator("it-0").build();
        }

        @Override
        public GetRecordsResponse getRecords(GetRecordsRequest request) {
            Object next = responses.pop();
            if (next instanceof RuntimeException e) {
                throw e;
            }
            return (GetRecordsResponse) next;
        }

        @Override
        public String serviceName() {
            return "kinesis";
        }

        @Override
        public void close() {}
    }

    static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** KPL wire format: magic, AggregatedRecord{partition_key_table, records{pk index, data}}, MD5. */
    static byte[] aggregate(String... data) throws Exception {
        ByteArrayOutputStream message = new ByteArrayOutputStream();
        field(message, 1, utf8("pk"));
        for (String d : data) {
            ByteArrayOutputStream record = new ByteArrayOutputStream();
            record.write(1 << 3);  // partition_key_index = 0 (varint)
            record.write(0);
            field(record, 3, utf8(d));
            field(message, 3, record.toByteArray());
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(AggregatedRecords.MAGIC);
        out.write(message.toByteArray());
        out.write(MessageDigest.getInstance("MD5").digest(message.toByteArray()));
        return out.toByteArray();
    }

    private static void field(ByteArrayOutputStream out, int number, byte[] value) {
        out.write((number << 3) | 2);
        out.write(value.length);  // all test values are < 128 bytes: one-byte varint
        out.writeBytes(value);
    }

    private static Record record(String sequence, byte[] data) {
        return Record.builder().sequenceNumber(sequence).partitionKey("pk").data(SdkBytes.fromByteArray(data)).build();
    }

    private static GetRecordsResponse page(String next, long behind, Record... records) {
        return GetRecordsResponse.builder().records(records).nextShardIterator(next).millisBehindLatest(behind).build();
    }

    private static Configuration config(boolean bounded) {
        Configuration config = new Configuration();
        config.set(KinesisOptions.SOURCE_BOUNDED, bounded);
        config.set(KinesisOptions.READER_EMPTY_RECORDS_FETCH_INTERVAL, Duration.ZERO);
        config.set(KinesisOptions.RETRY_MIN_DELAY, Duration.ofMillis(1));
        config.set(KinesisOptions.RETRY_MAX_DELAY, Duration.ofMillis(2));
        config.set(KinesisOptions.RETRY_MAX_ATTEMPTS, 3);
        return config;
    }

    /** Fetch until the split finishes; returns the emitted data and sub-sequence positions. */
    private static List<String> readToEnd(KinesisShardSplitReader reader, int maxFetches) throws Exception {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < maxFetches; i++) {
            RecordsWithSplitIds<KinesisShardSplitReader.UserRecord> batch = reader.fetch();
            for (String split = batch.nextSplit(); split != null; split = batch.nextSplit()) {
                for (var r = batch.nextRecordFromSplit(); r != null; r = batch.nextRecordFromSplit()) {
                    out.add(new String(r.data(), StandardCharsets.UTF_8) + "/" + r.sequenceNumber() + "." + r.subSequence()
                            + (r.lastInRecord() ? "" : "+"));
                }
            }
            if (!batch.finishedSplits().isEmpty()) {
                assertEquals(Set.of("shard-0"), batch.finishedSplits());
                return out;
            }
        }
        throw new AssertionError("split did not finish in " + maxFetches + " fetches; read " + out);
    }

    private static KinesisShardSplitReader reader(ScriptedKinesis kinesis, boolean bounded, KinesisShardSplit split) {
        var reader = new KinesisShardSplitReader("s", config(bounded), kinesis);
        reader.handleSplitsChanges(new SplitsAddition<>(List.of(split)));
        return reader;
    }

    @Test
    void aggregatesAreSplitAndAClosedShardFinishesItsSplit() throws Exception {
        var kinesis = new ScriptedKinesis();
        kinesis.responses.add(page("it-1", 0, record("1", utf8("plain")), record("2", aggregate("a", "b", "c"))));
        kinesis.responses.add(page(null, 0));  // closed shard, read to its end
        var split = KinesisShardSplit.of("shard-0", List.of(), "TRIM_HORIZON", null);
        assertEquals(List.of("plain/1.0", "a/2.0+", "b/2.1+", "c/2.2"), readToEnd(reader(kinesis, false, split), 5));
        assertEquals("TRIM_HORIZON", kinesis.iteratorRequests.get(0).shardIteratorTypeAsString());
    }

    @Test
    void resumingInsideAnAggregateSkipsTheSubRecordsAlreadyEmitted() throws Exception {
        var kinesis = new ScriptedKinesis();
        kinesis.responses.add(page(null, 0, record("2", aggregate("a", "b", "c")), record("3", utf8("d"))));
        var split = KinesisShardSplit.of("shard-0", List.of(), "TRIM_HORIZON", null).resumeAt("2", 0);
        assertEquals(List.of("b/2.1+", "c/2.2", "d/3.0"), readToEnd(reader(kinesis, false, split), 3));
        var request = kinesis.iteratorRequests.get(0);
        assertEquals("AT_SEQUENCE_NUMBER", request.shardIteratorTypeAsString());
        assertEquals("2", request.startingSequenceNumber());
    }

    @Test
    void throttlingIsRetriedAndAnExpiredIteratorResumesAfterTheLastRecord() throws Exception {
        var kinesis = new ScriptedKinesis();
        kinesis.responses.add(page("it-1", 5_000, record("1", utf8("x"))));
        kinesis.responses.add(ProvisionedThroughputExceededException.builder().statusCode(400)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode("ProvisionedThroughputExceededException").build())
                .build());
        kinesis.responses.add(software.amazon.awssdk.services.kinesis.model.ExpiredIteratorException.builder()
                .statusCode(400).build());
        kinesis.responses.add(page("it-2", 0, record("2", utf8("y"))));
        kinesis.responses.add(page("it-3", 0));  // bounded: caught up
        var split = KinesisShardSplit.of("shard-0", List.of(), "LATEST", null);
        assertEquals(List.of("x/1.0", "y/2.0"), readToEnd(reader(kinesis, true, split), 50));
        var resumed = kinesis.iteratorRequests.get(1);
        assertEquals("AFTER_SEQUENCE_NUMBER", resumed.shardIteratorTypeAsString());
        assertEquals("1", resumed.startingSequenceNumber());
    }

    @Test
    void unboundedReadKeepsPollingAShardThatIsCaughtUp() throws Exception {
        var kinesis = new ScriptedKinesis();
        kinesis.responses.add(page("it-1", 0));
        kinesis.responses.add(page(null, 0, record("9", utf8("late"))));
        var split = KinesisShardSplit.of("shard-0", List.of(), "LATEST", null);
        assertEquals(List.of("late/9.0"), readToEnd(reader(kinesis, false, split), 5));
    }

    @Test
    void connectionFailuresStopAfterTheConfiguredAttempts() {
        var kinesis = new ScriptedKinesis();
        for (int i = 0; i < 3; i++) {
            kinesis.responses.add(software.amazon.awssdk.core.exception.SdkClientException.create("refused"));
        }
        var reader = reader(kinesis, false, KinesisShardSplit.of("shard-0", List.of(), "LATEST", null));
        var error = assertThrows(java.io.IOException.class, () -> readToEnd(reader, 50));
        assertEquals(true, error.getMessage().contains("cannot reach Kinesis"));
    }
}
