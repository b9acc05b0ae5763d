package dev.shardline.flink.firehose;

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

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.services.firehose.FirehoseAsyncClient;
import software.amazon.awssdk.services.firehose.model.PutRecordBatchRequest;
import software.amazon.awssdk.services.firehose.model.PutRecordBatchResponse;
import software.amazon.awssdk.services.firehose.model.PutRecordBatchResponseEntry;
import software.amazon.awssdk.services.firehose.model.Record;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * A Firehose (Direct PUT) sink on Flink's AsyncSinkBase: batches PutRecordBatch (500 records / 4 MiB), keeps
 * buffered records in checkpoints, and re-sends only the records a response marks failed.  Throttling and
 * 5xx errors are retried (the writer slows its requests in flight); a missing delivery stream, denied
 * access or an invalid request fail the job, saying what to check.  Delivery is at least once.
 */
public final class FirehoseSink<InputT> extends AsyncSinkBase<InputT, Record> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(FirehoseSink.class);
    /** PutRecordBatch's limits. */
    public static final int MAX_BATCH_RECORDS = 500;
    public static final long MAX_BATCH_BYTES = 4L * 1024 * 1024;
    public static final long MAX_RECORD_BYTES = 1000L * 1024;

    private final String deliveryStream;
    private final Configuration config;
    private final boolean failOnError;

    FirehoseSink(ElementConverter<InputT, Record> converter, String deliveryStream, ReadableConfig clientConfig,
                 AsyncSinkTableOptions.Settings settings) {
        super(converter, settings.batchSize(), settings.maxInFlight(), settings.maxBuffered(),
                Math.min(settings.flushBytes(), MAX_BATCH_BYTES), settings.flushMillis(), MAX_RECORD_BYTES);
        if (deliveryStream == null || deliveryStream.isEmpty()) {
            throw new IllegalArgumentException("set the delivery stream's name");
        }
        if (settings.batchSize() < 1 || settings.batchSize() > MAX_BATCH_RECORDS) {
            throw new IllegalArgumentException("sink.batch.max-size must be 1 to " + MAX_BATCH_RECORDS);
        }
        this.deliveryStream = deliveryStream;
        this.config = new Configuration();
        this.config.addAll(Configuration.fromMap(clientConfig.toMap()));
        this.failOnError = settings.failOnError();
    }

    @Override
    public StatefulSinkWriter<InputT, BufferedRequestState<Record>> createWriter(WriterInitContext context) {
        return restoreWriter(context, List.of());
    }

    @Override
    public StatefulSinkWriter<InputT, BufferedRequestState<Record>> restoreWriter(
            WriterInitContext context, Collection<BufferedRequestState<Record>> state) {
        var http = NettyNioAsyncHttpClient.builder().maxConcurrency(getMaxInFlightRequests()).build();
        return createWriter(context, state,
                KinesisOptions.configure(FirehoseAsyncClient.builder().httpClient(http), config).build());
    }

    /** Tests pass their own client here. */
    AsyncSinkWriter<InputT, Record> createWriter(WriterInitContext context, Collection<BufferedRequestState<Record>> state,
                                                 FirehoseAsyncClient firehose) {
        return new Writer(context, state, firehose);
    }

    @Override
    public SimpleVersionedSerializer<BufferedRequestState<Record>> getWriterStateSerializer() {
        return new RecordSerializer();
    }

    private final class Writer extends AsyncSinkWriter<InputT, Record> {
        private final FirehoseAsyncClient firehose;
        private final Counter sendErrors;

        Writer(WriterInitContext context, Collection<BufferedRequestState<Record>> state, FirehoseAsyncClient firehose) {
            super(getElementConverter(), context, AsyncSinkWriterConfiguration.builder()
                    .setMaxBatchSize(getMaxBatchSize()).setMaxBatchSizeInBytes(getMaxBatchSizeInBytes())
                    .setMaxInFlightRequests(getMaxInFlightRequests()).setMaxBufferedRequests(getMaxBufferedRequests())
                    .setMaxTimeInBufferMS(getMaxTimeInBufferMS()).setMaxRecordSizeInBytes(getMaxRecordSizeInBytes())
                    .build(), state);
            this.firehose = firehose;
            this.sendErrors = context.metricGroup().getNumRecordsSendErrorsCounter();
        }

        @Override
        protected void submitRequestEntries(List<Record> records, ResultHandler<Record> result) {
            PutRecordBatchRequest request = PutRecordBatchRequest.builder().deliveryStreamName(deliveryStream)
                    .records(records).build();
            firehose.putRecordBatch(request).whenComplete((response, error) -> {
                if (error != null) {
                    handleRequestError(error, records, result);
                } else if (response.failedPutCount() != null && response.failedPutCount() > 0) {
                    handlePartialFailure(response, records, result);
                } else {
                    result.complete();
                }
            });
        }

        /** Partial failure is data: re-send exactly the records whose response entry carries an error code. */
        private void handlePartialFailure(PutRecordBatchResponse response, List<Record> records,
                                          ResultHandler<Record> result) {
            List<Record> failed = new ArrayList<>(response.failedPutCount());
            List<PutRecordBatchResponseEntry> entries = response.requestResponses();
            for (int i = 0; i < records.size(); i++) {
                if (entries.get(i).errorCode() != null) {
                    failed.add(records.get(i));
                }
            }
            sendErrors.inc(failed.size());
            if (failOnError) {
                result.completeExceptionally(new IllegalStateException(failed.size() + " of " + records.size()
                        + " records were refused by firehose:" + deliveryStream + " (first: " + entries.stream()
                        .filter(e -> e.errorCode() != null).findFirst().map(PutRecordBatchResponseEntry::errorCode)
                        .orElse("?") + ") and sink.fail-on-error is set"));
            } else {
                LOG.debug("event=put_record_batch_partial_failure stream={} failed={} of={}", deliveryStream,
                        failed.size(), records.size());
                result.retryForEntries(failed);
            }
        }

        private void handleRequestError(Throwable error, List<Record> records, ResultHandler<Record> result) {
            Throwable cause = AwsCallFailure.cause(error);
            sendErrors.inc(records.size());
            if (AwsCallFailure.retryable(cause, Set.of()) && !failOnError) {
                result.retryForEntries(records);
                return;
            }
            String what = AwsCallFailure.code(cause);
            result.completeExceptionally(new IllegalStateException("PutRecordBatch to firehose:" + deliveryStream
                    + " at " + KinesisOptions.describeEndpoint(config, "Firehose") + " failed (" + what + "); check that the delivery stream "
                    + "exists (Direct PUT), the region/endpoint and the role's firehose:PutRecordBatch permission",
                    cause));
        }

        @Override
        protected long getSizeInBytes(Record record) {
            return record.data().asByteArrayUnsafe().length;
        }

        @Override
        public void close() {
            super.close();
            firehose.close();
        }
    }


    private static final class RecordSerializer extends AsyncSinkWriterStateSerializer<Record> {
        @Override
        protected void serializeRequestToStream(Record record, DataOutputStream out) throws IOException {
            byte[] data = record.data().asByteArrayUnsafe();
            out.writeInt(data.length);
            out.write(data);
        }

        @Override
        protected Record deserializeRequestFromStream(long size, DataInputStream in) throws IOException {
            byte[] data = new byte[in.readInt()];
            in.readFully(data);
            return Record.builder().data(SdkBytes.fromByteArrayUnsafe(data)).build();
        }

        @Override
        public int getVersion() {
            return 1;
        }
    }
}
