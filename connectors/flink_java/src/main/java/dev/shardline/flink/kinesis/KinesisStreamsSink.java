package dev.shardline.flink.kinesis;

import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.sink.AsyncSinkBase;
import org.apache.flink.connector.base.sink.writer.AsyncSinkWriter;
import org.apache.flink.connector.base.sink.writer.AsyncSinkWriterStateSerializer;
import org.apache.flink.connector.base.sink.writer.BufferedRequestState;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.connector.base.sink.writer.ResultHandler;
import org.apache.flink.connector.base.sink.writer.config.AsyncSinkWriterConfiguration;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.metrics.Counter;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kinesis.KinesisAsyncClient;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResultEntry;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.Set;

/**
 * A Kinesis sink on Flink's AsyncSinkBase: buffers, batches PutRecords (500 entries / 5 MiB), keeps
 * buffered entries in checkpoints, and re-sends only the entries a PutRecords response marks failed.
 * Its input defaults to {@code Tuple2<partition key, data>}; set an ElementConverter for other types.
 *
 * <pre>{@code
 * KinesisStreamsSink<Tuple2<String, byte[]>> sink = KinesisStreamsSink.<Tuple2<String, byte[]>>builder()
 *     .setStreamName("orders-out").setKinesisClientProperties(props).build();
 * }</pre>
 */
public final class KinesisStreamsSink<InputT> extends AsyncSinkBase<InputT, PutRecordsRequestEntry> {
    private static final long serialVersionUID = 1L;
    /** Codes Kinesis answers a whole call with when a shard is over its limits: try it again later. */
    static final Set<String> RETRYABLE_CODES = Set.of("ProvisionedThroughputExceededException",
            "LimitExceededException");
    private static final Logger LOG = LoggerFactory.getLogger(KinesisStreamsSink.class);

    private final String stream;
    private final Configuration config;
    private final boolean failOnError;

    private KinesisStreamsSink(Builder<InputT> b) {
        super(b.elementConverter, b.maxBatchSize, b.maxInFlightRequests, b.maxBufferedRequests,
                b.maxBatchSizeInBytes, b.maxTimeInBufferMS, b.maxRecordSizeInBytes);
        this.stream = b.stream;
        this.config = b.config;
        this.failOnError = b.failOnError;
    }

    public static <InputT> Builder<InputT> builder() {
        return new Builder<>();
    }

    @Override
    public StatefulSinkWriter<InputT, BufferedRequestState<PutRecordsRequestEntry>> createWriter(WriterInitContext context) {
        return restoreWriter(context, List.of());
    }

    @Override
    public StatefulSinkWriter<InputT, BufferedRequestState<PutRecordsRequestEntry>> restoreWriter(
            WriterInitContext context, Collection<BufferedRequestState<PutRecordsRequestEntry>> state) {
        return createWriter(context, state, KinesisOptions.asyncClient(config, getMaxInFlightRequests()));
    }

    /** Tests pass their own client here. */
    AsyncSinkWriter<InputT, PutRecordsRequestEntry> createWriter(
            WriterInitContext context, Collection<BufferedRequestState<PutRecordsRequestEntry>> state,
            KinesisAsyncClient kinesis) {
        return new Writer(context, state, kinesis);
    }

    @Override
    public SimpleVersionedSerializer<BufferedRequestState<PutRecordsRequestEntry>> getWriterStateSerializer() {
        return new EntrySerializer();
    }

    private final class Writer extends AsyncSinkWriter<InputT, PutRecordsRequestEntry> {
        private final KinesisAsyncClient kinesis;
        private final Counter sendErrors;

        Writer(WriterInitContext context, Collection<BufferedRequestState<PutRecordsRequestEntry>> state,
               KinesisAsyncClient kinesis) {
            super(getElementConverter(), context, AsyncSinkWriterConfiguration.builder()
                    .setMaxBatchSize(getMaxBatchSize()).setMaxBatchSizeInBytes(getMaxBatchSizeInBytes())
                    .setMaxInFlightRequests(getMaxInFlightRequests()).setMaxBufferedRequests(getMaxBufferedRequests())
                    .setMaxTimeInBufferMS(getMaxTimeInBufferMS()).setMaxRecordSizeInBytes(getMaxRecordSizeInBytes())
                    .build(), state);
            this.kinesis = kinesis;
            this.sendErrors = context.metricGroup().getNumRecordsSendErrorsCounter();
        }

        @Override
        protected void submitRequestEntries(List<PutRecordsRequestEntry> entries,
                                            ResultHandler<PutRecordsRequestEntry> result) {
            PutRecordsRequest.Builder request = PutRecordsRequest.builder().records(entries);
            if (stream.startsWith("arn:")) {
                request.streamARN(stream);
            } else {
                request.streamName(stream);
            }
            kinesis.putRecords(request.build()).whenComplete((response, error) -> {
                if (error != null) {
                    handleRequestError(error, entries, result);
                } else if (response.failedRecordCount() != null && response.failedRecordCount() > 0) {
                    handlePartialFailure(response, entries, result);
                } else {
                    result.complete();
                }
            });
        }

        /** Partial failure is data: re-send exactly the entries whose result carries an error code. */
        private void handlePartialFailure(PutRecordsResponse response, List<PutRecordsRequestEntry> entries,
                                          ResultHandler<PutRecordsRequestEntry> result) {
            List<PutRecordsRequestEntry> failed = new ArrayList<>(response.failedRecordCount());
            List<PutRecordsResultEntry> results = response.records();
            for (int i = 0; i < entries.size(); i++) {
                if (results.get(i).errorCode() != null) {
                    failed.add(entries.get(i));
                }
            }
            sendErrors.inc(failed.size());
            if (failOnError) {
                result.completeExceptionally(new IllegalStateException(failed.size() + " of " + entries.size()
                        + " records were rejected by " + stream + " (first: " + results.stream()
                        .filter(r -> r.errorCode() != null).findFirst().map(PutRecordsResultEntry::errorCode).orElse("?")
                        + ") and sink.fail-on-error is set"));
            } else {
                LOG.debug("event=put_records_partial_failure stream={} failed={} of={}", stream, failed.size(), entries.size());
                result.retryForEntries(failed);
            }
        }

        private void handleRequestError(Throwable error, List<PutRecordsRequestEntry> entries,
                                        ResultHandler<PutRecordsRequestEntry> result) {
            Throwable cause = AwsCallFailure.cause(error);
            sendErrors.inc(entries.size());
            if (AwsCallFailure.retryable(cause, RETRYABLE_CODES) && !failOnError) {
                result.retryForEntries(entries);
                return;
            }
            String what = AwsCallFailure.code(cause);
            result.completeExceptionally(new IllegalStateException("PutRecords to " + stream + " at "
                    + KinesisOptions.describeEndpoint(config) + " failed (" + what + "); check that the stream exists, "
                    + "the region/endpoint and the credentials", cause));
        }

        @Override
        protected long getSizeInBytes(PutRecordsRequestEntry entry) {
            return entry.data().asByteArrayUnsafe().length + entry.partitionKey().length();
        }

        @Override
        public void close() {
            super.close();
            kinesis.close();
        }
    }

    /** Default converter: {@code Tuple2<partition key, data>} to one PutRecords entry. */
    public static final class KeyedBytes<T extends Tuple2<String, byte[]>> implements ElementConverter<T, PutRecordsRequestEntry> {
        private static final long serialVersionUID = 1L;

        @Override
        public PutRecordsRequestEntry apply(T element, SinkWriter.Context context) {
            return PutRecordsRequestEntry.builder().partitionKey(element.f0)
                    .data(SdkBytes.fromByteArrayUnsafe(element.f1)).build();
        }
    }

    private static final class EntrySerializer extends AsyncSinkWriterStateSerializer<PutRecordsRequestEntry> {
        @Override
        protected void serializeRequestToStream(PutRecordsRequestEntry entry, DataOutputStream out) throws IOException {
            byte[] data = entry.data().asByteArrayUnsafe();
            out.writeInt(data.length);
            out.write(data);
            out.writeUTF(entry.partitionKey());
            out.writeBoolean(entry.explicitHashKey() != null);
            if (entry.explicitHashKey() != null) {
                out.writeUTF(entry.explicitHashKey());
            }
        }

        @Override
        protected PutRecordsRequestEntry deserializeRequestFromStream(long size, DataInputStream in) throws IOException {
            byte[] data = new byte[in.readInt()];
            in.readFully(data);
            var entry = PutRecordsRequestEntry.builder().data(SdkBytes.fromByteArrayUnsafe(data)).partitionKey(in.readUTF());
            if (in.readBoolean()) {
                entry.explicitHashKey(in.readUTF());
            }
            return entry.build();
        }

        @Override
        public int getVersion() {
            return 1;
        }
    }

    /** Names and defaults follow the official KinesisStreamsSinkBuilder (Kinesis PutRecords limits). */
    public static final class Builder<InputT> {
        private String stream;
        private final Configuration config = new Configuration();
        @SuppressWarnings({"unchecked", "rawtypes"})
        private ElementConverter<InputT, PutRecordsRequestEntry> elementConverter = (ElementConverter) new KeyedBytes<>();
        private boolean failOnError = false;
        private int maxBatchSize = 500;
        private int maxInFlightRequests = 50;
        private int maxBufferedRequests = 10_000;
        private long maxBatchSizeInBytes = 5 * 1024 * 1024;
        private long maxTimeInBufferMS = 5_000;
        private long maxRecordSizeInBytes = 1024 * 1024;

        public Builder<InputT> setStreamArn(String streamArn) { this.stream = streamArn; return this; }
        public Builder<InputT> setStreamName(String streamName) { this.stream = streamName; return this; }
        public Builder<InputT> setElementConverter(ElementConverter<InputT, PutRecordsRequestEntry> converter) {
            this.elementConverter = converter;
            return this;
        }
        public Builder<InputT> setFailOnError(boolean failOnError) { this.failOnError = failOnError; return this; }
        public Builder<InputT> setMaxBatchSize(int value) { this.maxBatchSize = value; return this; }
        public Builder<InputT> setMaxInFlightRequests(int value) { this.maxInFlightRequests = value; return this; }
        public Builder<InputT> setMaxBufferedRequests(int value) { this.maxBufferedRequests = value; return this; }
        public Builder<InputT> setMaxBatchSizeInBytes(long value) { this.maxBatchSizeInBytes = value; return this; }
        public Builder<InputT> setMaxTimeInBufferMS(long value) { this.maxTimeInBufferMS = value; return this; }
        public Builder<InputT> setMaxRecordSizeInBytes(long value) { this.maxRecordSizeInBytes = value; return this; }

        /** aws.region, aws.endpoint, aws.credentials.provider.*, aws.cbor.enabled: see KinesisOptions. */
        public Builder<InputT> setKinesisClientProperties(Properties properties) {
            properties.stringPropertyNames().forEach(k -> config.setString(k, properties.getProperty(k)));
            return this;
        }

        /** The same keys as a Configuration (the table connector's options). */
        public Builder<InputT> setKinesisClientProperties(Configuration properties) {
            config.addAll(properties);
            return this;
        }

        public KinesisStreamsSink<InputT> build() {
            if (stream == null || stream.isEmpty()) {
                throw new IllegalArgumentException("set the stream with setStreamArn or setStreamName");
            }
            return new KinesisStreamsSink<>(this);
        }
    }
}
