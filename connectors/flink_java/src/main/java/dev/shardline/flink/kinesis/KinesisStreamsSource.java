package dev.shardline.flink.kinesis;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * A FLIP-27 source of the raw bytes of every (de-aggregated) user record on a Kinesis stream.
 *
 * <pre>{@code
 * KinesisStreamsSource source = KinesisStreamsSource.builder()
 *     .setStreamArn("arn:aws:kinesis:us-east-1:123456789012:stream/orders")   // or setStreamName("orders")
 *     .setSourceConfig(config)   // aws.*, source.* keys: see KinesisOptions
 *     .build();
 * }</pre>
 */
public final class KinesisStreamsSource<T>
        implements Source<T, KinesisShardSplit, KinesisShardEnumerator.State>, ResultTypeQueryable<T> {
    private static final long serialVersionUID = 1L;

    private final String stream;
    private final Configuration config;
    private final KinesisRecordDeserializer<T> deserializer;

    private KinesisStreamsSource(String stream, Configuration config, KinesisRecordDeserializer<T> deserializer) {
        this.stream = stream;
        this.config = config;
        this.deserializer = deserializer;
    }

    /** A builder of a source of the records' bytes; {@code setDeserializer} makes it emit something else. */
    public static Builder<byte[]> builder() {
        return new Builder<>(KinesisRecordDeserializer.bytes());
    }

    @Override
    public Boundedness getBoundedness() {
        return config.get(KinesisOptions.SOURCE_BOUNDED) ? Boundedness.BOUNDED : Boundedness.CONTINUOUS_UNBOUNDED;
    }

    @Override
    public SourceReader<T, KinesisShardSplit> createReader(SourceReaderContext context) {
        return new KinesisStreamsSourceReader<>(stream, config, context, deserializer);
    }

    @Override
    public SplitEnumerator<KinesisShardSplit, KinesisShardEnumerator.State> createEnumerator(
            SplitEnumeratorContext<KinesisShardSplit> context) {
        return new KinesisShardEnumerator(context, stream, config, null);
    }

    @Override
    public SplitEnumerator<KinesisShardSplit, KinesisShardEnumerator.State> restoreEnumerator(
            SplitEnumeratorContext<KinesisShardSplit> context, KinesisShardEnumerator.State state) {
        return new KinesisShardEnumerator(context, stream, config, state);
    }

    @Override
    public SimpleVersionedSerializer<KinesisShardSplit> getSplitSerializer() {
        return KinesisShardSplit.Serializer.INSTANCE;
    }

    @Override
    public SimpleVersionedSerializer<KinesisShardEnumerator.State> getEnumeratorCheckpointSerializer() {
        return new KinesisShardEnumerator.StateSerializer();
    }

    @Override
    public TypeInformation<T> getProducedType() {
        return deserializer.getProducedType();
    }

    /** Names follow the official KinesisStreamsSourceBuilder. */
    public static final class Builder<T> {
        private String stream;
        private final Configuration config = new Configuration();
        private final KinesisRecordDeserializer<T> deserializer;

        private Builder(KinesisRecordDeserializer<T> deserializer) {
            this.deserializer = deserializer;
        }

        /** What each user record becomes (default: its bytes). */
        public <U> Builder<U> setDeserializer(KinesisRecordDeserializer<U> deserializer) {
            Builder<U> other = new Builder<>(deserializer);
            other.stream = stream;
            other.config.addAll(config);
            return other;
        }

        public Builder<T> setStreamArn(String streamArn) {
            this.stream = streamArn;
            return this;
        }

        /** Emulators such as kinesalite only accept names, not ARNs. */
        public Builder<T> setStreamName(String streamName) {
            this.stream = streamName;
            return this;
        }

        public Builder<T> setSourceConfig(Configuration sourceConfig) {
            this.config.addAll(sourceConfig);
            return this;
        }

        public KinesisStreamsSource<T> build() {
            if (stream == null || stream.isEmpty()) {
                throw new IllegalArgumentException("set the stream with setStreamArn or setStreamName");
            }
            return new KinesisStreamsSource<>(stream, config, deserializer);
        }
    }
}
