package dev.shardline.flink.dynamodb;

import dev.shardline.flink.kinesis.SinkWriterContext;
import dev.shardline.flink.kinesis.table.AsyncSinkTableOptions;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.DoubleType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.VarCharType;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.services.dynamodb.DynamoDbAsyncClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemRequest;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemResponse;
import software.amazon.awssdk.services.dynamodb.model.ResourceNotFoundException;
import software.amazon.awssdk.services.dynamodb.model.WriteRequest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DynamoDbSinkTest {
    private static final RowType ROW = RowType.of(new org.apache.flink.table.types.logical.LogicalType[] {
        new VarCharType(VarCharType.MAX_LENGTH), new BigIntType(), new DoubleType()}, new String[] {"series", "start", "mean"});

    /** Answers BatchWriteItem with what {@code answer} says, keeping each call's items as "series@start=mean". */
    private static final class ScriptedDynamoDb implements DynamoDbAsyncClient {
        final List<List<String>> calls = new ArrayList<>();
        final Function<List<WriteRequest>, CompletableFuture<BatchWriteItemResponse>> answer;

        ScriptedDynamoDb(Function<List<WriteRequest>, CompletableFuture<BatchWriteItemResponse>> answer) {
            this.answer = answer;
        }

        @Override
        public CompletableFuture<BatchWriteItemResponse> batchWriteItem(BatchWriteItemRequest request) {
            List<WriteRequest> requests = request.requestItems().get("windows");
            calls.add(requests.stream().map(DynamoDbSinkTest::describe).toList());
            return answer.apply(requests);
        }

        @Override
        public String serviceName() {
            return "dynamodb";
        }

        @Override
        public void close() {}
    }

    static String describe(WriteRequest request) {
        Map<String, AttributeValue> item = request.putRequest().item();
        return item.get("series").s() + "@" + item.get("start").n() + "=" + (item.containsKey("mean") ? item.get("mean").n() : "-");
    }

    private static void write(ScriptedDynamoDb dynamodb, GenericRowData... rows) throws Exception {
        var sink = new DynamoDbSink<>(new DynamoDbDynamicSink.RowToItem(ROW, true), "windows", List.of("series", "start"),
                new Configuration(), new AsyncSinkTableOptions.Settings(25, 4, 100, DynamoDbSink.MAX_BATCH_BYTES, 60_000, false));
        try (var writer = sink.createWriter(new SinkWriterContext(), List.of(), dynamodb)) {
            for (GenericRowData row : rows) {
                writer.write(row, null);
            }
            writer.flush(true);
        }
    }

    private static GenericRowData row(String series, long start, Double mean) {
        return GenericRowData.of(StringData.fromString(series), start, mean);
    }

    private static CompletableFuture<BatchWriteItemResponse> done(List<WriteRequest> unprocessed) {
        return CompletableFuture.completedFuture(BatchWriteItemResponse.builder()
                .unprocessedItems(unprocessed.isEmpty() ? Map.of() : Map.of("windows", unprocessed)).build());
    }

    @Test
    void unprocessedItemsAndOnlyThoseAreWrittenAgain() throws Exception {
        int[] calls = {0};
        var dynamodb = new ScriptedDynamoDb(requests -> done(calls[0]++ == 0 ? requests.subList(1, 2) : List.of()));
        write(dynamodb, row("d/t", 0, 1.5), row("d/t", 60_000, 2.0), row("d/h", 0, 3.0));
        assertEquals(List.of(List.of("d/t@0=1.5", "d/t@60000=2.0", "d/h@0=3.0"), List.of("d/t@60000=2.0")), dynamodb.calls);
    }

    @Test
    void aCallCarriesOnePutAKeyTheLastOne() throws Exception {
        var dynamodb = new ScriptedDynamoDb(requests -> done(List.of()));
        write(dynamodb, row("d/t", 0, 1.0), row("d/h", 0, 5.0), row("d/t", 0, 2.0), row("d/t", 0, null));
        assertEquals(List.of(List.of("d/t@0=-", "d/h@0=5.0")), dynamodb.calls, "nulls left out with sink.ignore-nulls");
    }

    @Test
    void numbersAreWrittenInPlainDigitsThatReadBackAsTheSameDouble() {
        var item = new DynamoDbDynamicSink.RowToItem(ROW, false).apply(row("d/t", 1767225600000L, 1e-5), null);
        assertEquals("0.000010", item.putRequest().item().get("mean").n());
        assertEquals("1767225600000", item.putRequest().item().get("start").n());
        assertEquals(1e-5, Double.parseDouble(item.putRequest().item().get("mean").n()));
    }

    @Test
    void aMissingTableFailsWithAMessageThatNamesIt() {
        var dynamodb = new ScriptedDynamoDb(requests -> CompletableFuture.failedFuture(ResourceNotFoundException.builder()
                .statusCode(400).awsErrorDetails(AwsErrorDetails.builder().errorCode("ResourceNotFoundException").build())
                .build()));
        Exception error = assertThrows(Exception.class, () -> write(dynamodb, row("d/t", 0, 1.0)));
        String messages = "";
        for (Throwable t = error; t != null; t = t.getCause()) {
            messages += t.getMessage() + "\n";
        }
        assertTrue(messages.contains("BatchWriteItem to dynamodb:windows") && messages.contains("ResourceNotFoundException"),
                messages);
    }
}
