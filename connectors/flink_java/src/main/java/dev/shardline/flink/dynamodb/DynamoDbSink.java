package dev.shardline.flink.dynamodb;

import dev.shardline.flink.kinesis.AwsCallFailure;
import dev.shardline.flink.kinesis.KinesisOptions;
import dev.shardline.flink.kinesis.table.AsyncSinkTableOptions;

import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.base.sink.AsyncSinkBase;
import org.apache.flink.connector.base.sink.writer.AsyncSinkWriter;
import org.apache.flink.connector.base.sink.writer.AsyncSinkWriterStateSerializer;
import org.apache.flink.connector.base.sink.writer.BufferedRequestState;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.connector.base.sink.writer.ResultHandler;
import org.apache.flink.connector.base.sink.writer.config.AsyncSinkWriterConfiguration;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.metrics.Counter;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.services.dynamodb.DynamoDbAsyncClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemRequest;
import software.amazon.awssdk.services.dynamodb.model.PutRequest;
import software.amazon.awssdk.services.dynamodb.model.WriteRequest;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;
import java.util.Map;

/**
 * A DynamoDB sink on Flink's AsyncSinkBase: items written with BatchWriteItem (25 puts a call), buffered items
 * kept in checkpoints.  Two puts of one key in a call fail the whole call, so a batch keeps only the last item
 * of each key (the table's {@code PARTITIONED BY} columns, as the official connector does).  Unprocessed items
 * (throttling, capacity) and throttled or 5xx calls are retried; a missing table, denied access or an invalid
 * item fail the job, saying what to check.  Puts replace whole items: a replay writes the same item again.
 */
public final class DynamoDbSink<InputT> extends AsyncSinkBase<InputT, WriteRequest> {
    private static final long serialVersionUID = 1L;
    /** BatchWriteItem's limits: 25 requests, 16 MiB; an item holds 400 KB. */
    public static final int MAX_BATCH_RECORDS = 25;
    public static final long MAX_BATCH_BYTES = 16L * 1024 * 1024;
    public static final long MAX_ITEM_BYTES = 400L * 1024;

    private final String table;
    private final List<String> keys;
    private final Configuration config;
    private final boolean failOnError;

    DynamoDbSink(ElementConverter<InputT, WriteRequest> converter, String table, List<String> keys,
                 ReadableConfig clientConfig, AsyncSinkTableOptions.Settings settings) {
        super(converter, settings.batchSize(), settings.maxInFlight(), settings.maxBuffered(),
                Math.min(settings.flushBytes(), MAX_BATCH_BYTES), settings.flushMillis(), MAX_ITEM_BYTES);
        if (table == null || table.isEmpty()) {
            throw new IllegalArgumentException("set the table's name");
        }
        if (settings.batchSize() < 1 || settings.batchSize() > MAX_BATCH_RECORDS) {
            throw new IllegalArgumentException("sink.batch.max-size must be 1 to " + MAX_BATCH_RECORDS);
        }
        this.table = table;
        this.keys = List.copyOf(keys);
        this.config = new Configuration();
        this.config.addAll(Configuration.fromMap(clientConfig.toMap()));
        this.failOnError = settings.failOnError();
    }

    @Override
    public StatefulSinkWriter<InputT, BufferedRequestState<WriteRequest>> createWriter(WriterInitContext context) {
        return restoreWriter(context, List.of());
    }

    @Override
    public StatefulSinkWriter<InputT, BufferedRequestState<WriteRequest>> restoreWriter(
            WriterInitContext context, Collection<BufferedRequestState<WriteRequest>> state) {
        var http = NettyNioAsyncHttpClient.builder().maxConcurrency(getMaxInFlightRequests()).build();
        return createWriter(context, state,
                KinesisOptions.configure(DynamoDbAsyncClient.builder().httpClient(http), config).build());
    }

    /** Tests pass their own client here. */
    AsyncSinkWriter<InputT, WriteRequest> createWriter(WriterInitContext context,
                                                       Collection<BufferedRequestState<WriteRequest>> state,
                                                       DynamoDbAsyncClient dynamodb) {
        return new Writer(context, state, dynamodb);
    }

    @Override
    public SimpleVersionedSerializer<BufferedRequestState<WriteRequest>> getWriterStateSerializer() {
        return new WriteRequestSerializer();
    }

    /** The last request of each key, in first-seen order of the keys (no key columns: every request). */
    static List<WriteRequest> lastOfEachKey(List<WriteRequest> requests, List<String> keys) {
        if (keys.isEmpty()) {
            return requests;
        }
        Map<List<AttributeValue>, WriteRequest> byKey = new LinkedHashMap<>();
        for (WriteRequest request : requests) {
            Map<String, AttributeValue> item = request.putRequest().item();
            List<AttributeValue> key = new ArrayList<>(keys.size());
            for (String name : keys) {
                key.add(item.get(name));
            }
            byKey.put(key, request);
        }
        return byKey.size() == requests.size() ? requests : new ArrayList<>(byKey.values());
    }

    private final class Writer extends AsyncSinkWriter<InputT, WriteRequest> {
        private final DynamoDbAsyncClient dynamodb;
        private final Counter sendErrors;

        Writer(WriterInitContext context, Collection<BufferedRequestState<WriteRequest>> state,
               DynamoDbAsyncClient dynamodb) {
            super(getElementConverter(), context, AsyncSinkWriterConfiguration.builder()
                    .setMaxBatchSize(getMaxBatchSize()).setMaxBatchSizeInBytes(getMaxBatchSizeInBytes())
                    .setMaxInFlightRequests(getMaxInFlightRequests()).setMaxBufferedRequests(getMaxBufferedRequests())
                    .setMaxTimeInBufferMS(getMaxTimeInBufferMS()).setMaxRecordSizeInBytes(getMaxRecordSizeInBytes())
                    .build(), state);
            this.dynamodb = dynamodb;
            this.sendErrors = context.metricGroup().getNumRecordsSendErrorsCounter();
        }

        @Override
        protected void submitRequestEntries(List<WriteRequest> requests, ResultHandler<WriteRequest> result) {
            List<WriteRequest> unique = lastOfEachKey(requests, keys);
            BatchWriteItemRequest request = BatchWriteItemRequest.builder().requestItems(Map.of(table, unique)).build();
            dynamodb.batchWriteItem(request).whenComplete((response, error) -> {
                if (error != null) {
                    handleRequestError(error, unique, result);
                    return;
                }
                List<WriteRequest> unprocessed = response.unprocessedItems().getOrDefault(table, List.of());
                if (unprocessed.isEmpty()) {
                    result.complete();
                } else {
                    sendErrors.inc(unprocessed.size());
                    result.retryForEntries(unprocessed);  // throttled or over capacity: only those, again
                }
            });
        }

        private void handleRequestError(Throwable error, List<WriteRequest> requests, ResultHandler<WriteRequest> result) {
            Throwable cause = AwsCallFailure.cause(error);
            sendErrors.inc(requests.size());
            if (AwsCallFailure.retryable(cause, Set.of()) && !failOnError) {
                result.retryForEntries(requests);
                return;
            }
            String what = AwsCallFailure.code(cause);
            result.completeExceptionally(new IllegalStateException("BatchWriteItem to dynamodb:" + table + " at "
                    + KinesisOptions.describeEndpoint(config, "DynamoDB") + " failed (" + what + "); check that the table "
                    + "exists with the key the table's PARTITIONED BY names, the region/endpoint and the role's "
                    + "dynamodb:BatchWriteItem permission", cause));
        }

        @Override
        protected long getSizeInBytes(WriteRequest request) {
            return itemSize(request.putRequest().item());
        }

        @Override
        public void close() {
            super.close();
            dynamodb.close();
        }
    }

    /** DynamoDB's size rule for the attribute types rows become (names plus values). */
    static long itemSize(Map<String, AttributeValue> item) {
        long size = 0;
        for (Map.Entry<String, AttributeValue> entry : item.entrySet()) {
            AttributeValue value = entry.getValue();
            size += entry.getKey().length();
            if (value.s() != null) {
                size += value.s().length() * 3L;
            } else if (value.n() != null) {
                size += value.n().length();
            } else if (value.b() != null) {
                size += value.b().asByteArrayUnsafe().length;
            } else {
                size += 1;
            }
        }
        return size;
    }

    /** Buffered puts in checkpoints: each attribute as name, type (S, N, B, BOOL, NULL) and value. */
    private static final class WriteRequestSerializer extends AsyncSinkWriterStateSerializer<WriteRequest> {
        @Override
        protected void serializeRequestToStream(WriteRequest request, DataOutputStream out) throws IOException {
            Map<String, AttributeValue> item = request.putRequest().item();
            out.writeInt(item.size());
            for (Map.Entry<String, AttributeValue> entry : item.entrySet()) {
                out.writeUTF(entry.getKey());
                AttributeValue value = entry.getValue();
                if (value.s() != null) {
                    out.writeByte('S');
                    byte[] text = value.s().getBytes(java.nio.charset.StandardCharsets.UTF_8);
                    out.writeInt(text.length);
                    out.write(text);
                } else if (value.n() != null) {
                    out.writeByte('N');
                    out.writeUTF(value.n());
                } else if (value.b() != null) {
                    out.writeByte('B');
                    byte[] bytes = value.b().asByteArrayUnsafe();
                    out.writeInt(bytes.length);
                    out.write(bytes);
                } else if (value.bool() != null) {
                    out.writeByte('T');
                    out.writeBoolean(value.bool());
                } else {
                    out.writeByte('0');
                }
            }
        }

        @Override
        protected WriteRequest deserializeRequestFromStream(long size, DataInputStream in) throws IOException {
            int count = in.readInt();
            Map<String, AttributeValue> item = new LinkedHashMap<>();
            for (int i = 0; i < count; i++) {
                String name = in.readUTF();
                byte kind = in.readByte();
                AttributeValue value;
                switch (kind) {
                    case 'S' -> {
                        byte[] text = new byte[in.readInt()];
                        in.readFully(text);
                        value = AttributeValue.fromS(new String(text, java.nio.charset.StandardCharsets.UTF_8));
                    }
                    case 'N' -> value = AttributeValue.fromN(in.readUTF());
                    case 'B' -> {
                        byte[] bytes = new byte[in.readInt()];
                        in.readFully(bytes);
                        value = AttributeValue.fromB(SdkBytes.fromByteArrayUnsafe(bytes));
                    }
                    case 'T' -> value = AttributeValue.fromBool(in.readBoolean());
                    case '0' -> value = AttributeValue.fromNul(true);
                    default -> throw new IOException("unknown attribute kind " + kind + " in a DynamoDB sink checkpoint");
                }
                item.put(name, value);
            }
            return WriteRequest.builder().putRequest(PutRequest.builder().item(item).build()).build();
        }

        @Override
        public int getVersion() {
            return 1;
        }
    }
}
