package dev.shardline.flink.kinesis;

import org.apache.flink.api.java.tuple.Tuple2;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.services.kinesis.KinesisAsyncClient;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResultEntry;
import software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KinesisStreamsSinkTest {

    /** Answers PutRecords synchronously with what {@code answer} says, and keeps every request. */
    private static final class ScriptedKinesis implements KinesisAsyncClient {
        final List<List<String>> requests = new ArrayList<>();
        final Function<List<PutRecordsRequestEntry>, CompletableFuture<PutRecordsResponse>> answer;

        ScriptedKinesis(Function<List<PutRecordsRequestEntry>, CompletableFuture<PutRecordsResponse>> answer) {
            this.answer = answer;
        }

        @Override
        public CompletableFuture<PutRecordsResponse> putRecords(PutRecordsRequest request) {
            requests.add(request.records().stream().map(e -> e.data().asUtf8String()).collect(Collectors.toList()));
            return answer.apply(request.records());
        }

        @Override
        public String serviceName() {
            return "kinesis";
        }

        @Override
        public void close() {}
    }

    private static Tuple2<String, byte[]> keyed(String value) {
        return Tuple2.of("key-" + value, value.getBytes(StandardCharsets.UTF_8));
    }

    private static void writeAndFlush(ScriptedKinesis kinesis, String... values) throws Exception {
        KinesisStreamsSink<Tuple2<String, byte[]>> sink = KinesisStreamsSink.<Tuple2<String, byte[]>>builder()
                .setStreamName("out").setMaxBatchSize(10).build();
        try (var writer = sink.createWriter(new SinkWriterContext(), List.of(), kinesis)) {
            for (String value : values) {
                writer.write(keyed(value), null);
            }
            writer.flush(true);
        }
    }

    @Test
    void onlyTheEntriesAResponseMarksFailedAreSentAgain() throws Exception {
        Set<String> throttledOnce = new java.util.HashSet<>(Set.of("b"));
        var kinesis = new ScriptedKinesis(entries -> {
            var results = entries.stream().map(e -> throttledOnce.remove(e.data().asUtf8String())
                    ? PutRecordsResultEntry.builder().errorCode("ProvisionedThroughputExceededException").build()
                    : PutRecordsResultEntry.builder().sequenceNumber("1").shardId("s").build()).toList();
            int failed = (int) results.stream().filter(r -> r.errorCode() != null).count();
            return CompletableFuture.completedFuture(
                    PutRecordsResponse.builder().records(results).failedRecordCount(failed).build());
        });
        writeAndFlush(kinesis, "a", "b", "c");
        assertEquals(List.of(List.of("a", "b", "c"), List.of("b")), kinesis.requests);
    }

    @Test
    void aMissingStreamFailsWithAMessageThatNamesIt() {
        var kinesis = new ScriptedKinesis(entries -> CompletableFuture.failedFuture(
                ResourceNotFoundException.builder().statusCode(400)
                        .awsErrorDetails(AwsErrorDetails.builder().errorCode("ResourceNotFoundException").build()).build()));
        Exception error = assertThrows(Exception.class, () -> writeAndFlush(kinesis, "a"));
        String messages = "";
        for (Throwable t = error; t != null; t = t.getCause()) {
            messages += t.getMessage() + "\n";
        }
        assertTrue(messages.contains("PutRecords to out") && messages.contains("ResourceNotFoundException"), messages);
    }
}
