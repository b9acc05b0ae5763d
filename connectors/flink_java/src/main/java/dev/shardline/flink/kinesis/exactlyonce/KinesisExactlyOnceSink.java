package dev.shardline.flink.kinesis.exactlyonce;

import dev.shardline.flink.kinesis.KinesisStreamsSink;

import org.apache.flink.api.connector.sink2.Committer;
import org.apache.flink.api.connector.sink2.CommitterInitContext;
import org.apache.flink.api.connector.sink2.CommittingSinkWriter;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SupportsCommitter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.core.io.SimpleVersionedSerializer;

import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;

import java.util.Properties;

/**
 * A Kinesis sink that writes each record once, across restores from checkpoints: a two-phase commit.  Writers
 * hold a checkpoint interval's records and hand them to the committer at the checkpoint barrier; the committer
 * writes them with PutRecords once the checkpoint completes, and after a restore first reads the stream back to
 * write only what is missing (see {@link KinesisCommitter}).  Records reach the stream one checkpoint interval
 * later than with {@link KinesisStreamsSink}, and only with checkpointing on (or at the end of a bounded job).
 *
 * <pre>{@code
 * KinesisExactlyOnceSink<Tuple2<String, byte[]>> sink = KinesisExactlyOnceSink.<Tuple2<String, byte[]>>builder()
 *     .setStreamName("events-out").setKinesisClientProperties(props).build();
 * }</pre>
 */
public final class KinesisExactlyOnceSink<InputT> implements Sink<InputT>, SupportsCommitter<KinesisCommittable> {
    private static final long serialVersionUID = 1L;
    /** The committer's counter of restored records found on the stream already (so not written again). */
    public static final String SKIPPED_METRIC = "numRecordsSkippedOnRecovery";

    private final String stream;
    private final Configuration config;
    private final ElementConverter<InputT, PutRecordsRequestEntry> converter;
    private final boolean failOnError;

    private KinesisExactlyOnceSink(Builder<InputT> b) {
        this.stream = b.stream;
        this.config = b.config;
        this.converter = b.converter;
        this.failOnError = b.failOnError;
    }

    public static <InputT> Builder<InputT> builder() {
        return new Builder<>();
    }

    @Override
    public CommittingSinkWriter<InputT, KinesisCommittable> createWriter(WriterInitContext context) {
        return new CheckpointBufferWriter<>(converter, context, System::currentTimeMillis);
    }

    @Override
    public Committer<KinesisCommittable> createCommitter(CommitterInitContext context) {
        return new KinesisCommitter(stream, config, failOnError, context.getRestoredCheckpointId().isPresent(),
                context.metricGroup().counter(SKIPPED_METRIC));
    }

    @Override
    public SimpleVersionedSerializer<KinesisCommittable> getCommittableSerializer() {
        return new KinesisCommittableSerializer();
    }

    /** The names of {@link KinesisStreamsSink.Builder}; the batching settings do not apply (a commit sends all). */
    public static final class Builder<InputT> {
        private String stream;
        private final Configuration config = new Configuration();
        @SuppressWarnings({"unchecked", "rawtypes"})
        private ElementConverter<InputT, PutRecordsRequestEntry> converter =
                (ElementConverter) new KinesisStreamsSink.KeyedBytes<>();
        private boolean failOnError = false;

        public Builder<InputT> setStreamArn(String streamArn) { this.stream = streamArn; return this; }
        public Builder<InputT> setStreamName(String streamName) { this.stream = streamName; return this; }
        public Builder<InputT> setElementConverter(ElementConverter<InputT, PutRecordsRequestEntry> converter) {
            this.converter = converter;
            return this;
        }
        /** Fail the job when Kinesis refuses records instead of sending them again with backoff. */
        public Builder<InputT> setFailOnError(boolean failOnError) { this.failOnError = failOnError; return this; }

        /** aws.region, aws.endpoint, aws.credentials.provider.*, aws.cbor.enabled: see KinesisOptions. */
        public Builder<InputT> setKinesisClientProperties(Properties properties) {
            properties.stringPropertyNames().forEach(k -> config.setString(k, properties.getProperty(k)));
            return this;
        }

        public Builder<InputT> setKinesisClientProperties(Configuration properties) {
            config.addAll(properties);
            return this;
        }

        public KinesisExactlyOnceSink<InputT> build() {
            if (stream == null || stream.isEmpty()) {
                throw new IllegalArgumentException("set the stream with setStreamArn or setStreamName");
            }
            return new KinesisExactlyOnceSink<>(this);
        }
    }
}
