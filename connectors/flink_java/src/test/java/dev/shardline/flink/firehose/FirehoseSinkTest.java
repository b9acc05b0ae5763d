package dev.shardline.flink.firehose;

import dev.shardline.flink.kinesis.SinkWriterContext;
import dev.shardline.flink.kinesis.table.AsyncSinkTableOptions;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.firehose.FirehoseAsyncClient;
import software.amazon.awssdk.services.firehose.model.PutRecordBatchRequest;
import software.amazon.awssdk.services.firehose.model.PutRecordBatchResponse;
import software.amazon.awssdk.services.firehose.model.PutRecordBatchResponseEntry;
import software.amazon.awssdk.services.firehose.model.Record;
import software.amazon.awssdk.services.firehose.model.ResourceNotFoundException;
import software.amazon.awssdk.services.firehose.model.ServiceUnavailableException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FirehoseSinkTest {

    /** Answers PutRecordBatch synchronously with what {@code answer} says, and keeps every request. */
    private static final class ScriptedFirehose implements FirehoseAsyncClient {
        final List<List<String>> requests = new ArrayList<>();
        final Function<List<Record>, CompletableFuture<PutRecordBatchResponse>> answer;

        ScriptedFirehose(Function<List<Record>, CompletableFuture<PutRecordBatchResponse>> answer) {
            this.answer = answer;
        }

        @Override
        public CompletableFuture<PutRecordBatchResponse> putRecordBatch(PutRecordBatchRequest request) {
            assertEquals("search", request.deliveryStreamName());
            requests.add(request.records().stream().map(r -> r.data().asUtf8String()).toList());
            return answer.apply(request.records());
        }

        @Override
        public String serviceName() {
            return "firehose";
        }

        @Override
        public void close() {}
    }

    private static void writeAndFlush(ScriptedFirehose firehose, String... values) throws Exception {
        FirehoseSink<String> sink = new FirehoseSink<>(
                (value, context) -> Record.builder().data(SdkBytes.fromUtf8String(value)).build(), "search",
                new Configuration(), new AsyncSinkTableOptions.Settings(10, 4, 100, FirehoseSink.MAX_BATCH_BYTES, 60_000, false));
        try (var writer = sink.createWriter(new SinkWriterContext(), List.of(), firehose)) {
            for (String value : values) {
                writer.write(value, null);
            }
            writer.flush(true);
        }
    }

    private static PutRecordBatchResponse answered(List<PutRecordBatchResponseEntry> entries) {
        int failed = (int) entries.stream().filter(e -> e.errorCode() != null).count();
        return PutRecordBatchResponse.builder().requestResponses(entries).failedPutCount(failed).build();
    }

    @Test
    void onlyTheRecordsAResponseMarksFailedAreSentAgain() throws Exception {
        Set<String> refusedOnce = new HashSet<>(Set.of("b"));
        var firehose = new ScriptedFirehose(records -> CompletableFuture.completedFuture(answered(records.stream()
                .map(r -> refusedOnce.remove(r.data().asUtf8String())
                        ? PutRecordBatchResponseEntry.builder().errorCode("ServiceUnavailableException").build()
                        : PutRecordBatchResponseEntry.builder().recordId("id").build()).toList())));
        writeAndFlush(firehose, "a", "b", "c");
        assertEquals(List.of(List.of("a", "b", "c"), List.of("b")), firehose.requests);
    }

    @Test
    void aThrottledCallIsSentAgainWhole() throws Exception {
        int[] calls = {0};
        var firehose = new ScriptedFirehose(records -> calls[0]++ == 0
                ? CompletableFuture.failedFuture(ServiceUnavailableException.builder().statusCode(503)
                        .awsErrorDetails(AwsErrorDetails.builder().errorCode("ServiceUnavailableException").build()).build())
                : CompletableFuture.completedFuture(answered(records.stream()
                        .map(r -> PutRecordBatchResponseEntry.builder().recordId("id").build()).toList())));
        writeAndFlush(firehose, "a", "b");
        assertEquals(List.of(List.of("a", "b"), List.of("a", "b")), firehose.requests);
    }

    @Test
    void aMissingDeliveryStreamFailsWithAMessageThatNamesIt() {
        var firehose = new ScriptedFirehose(records -> CompletableFuture.failedFuture(
                ResourceNotFoundException.builder().statusCode(400)
                        .awsErrorDetails(AwsErrorDetails.builder().errorCode("ResourceNotFoundException").build()).build()));
        Exception error = assertThrows(Exception.class, () -> writeAndFlush(firehose, "a"));
        String messages = "";
        for (Throwable t = error; t != null; t = t.getCause()) {
            messages += t.getMessage() + "\n";
        }
        assertTrue(messages.contains("PutRecordBatch to firehose:search") && messages.contains("ResourceNotFoundException")
                && messages.contains("Direct PUT"), messages);
    }

    @Test
    void aBatchNeverExceedsTheServiceLimits() {
        AsyncSinkTableOptions.Settings tooBig = new AsyncSinkTableOptions.Settings(501, 4, 100, 1, 1, false);
        assertThrows(IllegalArgumentException.class, () -> new FirehoseSink<String>(
                (value, context) -> Record.builder().data(SdkBytes.fromString(value, StandardCharsets.UTF_8)).build(),
                "search", new Configuration(), tooBig));
    }
}
