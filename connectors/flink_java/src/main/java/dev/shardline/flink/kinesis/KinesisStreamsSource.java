package dev.shardline.flink.kinesis;

import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
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
public final class KinesisStreamsSource
        implements Source<byte[], KinesisShardSplit, KinesisShardEnumerator.State>, ResultTypeQueryable<byte[]> {
    private static final long serialVersionUID = 1L;

    private final String stream;
    private final Configuration config;

    private KinesisStreamsSource(String stream, Configuration config) {
        this.stream = stream;
        this.config = config;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Boundedness getBoundedness() {
        return config.get(KinesisOptions.SOURCE_BOUNDED) ? Boundedness.BOUNDED : Boundedness.CONTINUOUS_UNBOUNDED;
    }

    @Override
    public SourceReader<byte[], KinesisShardSplit> createReader(SourceReaderContext context) {
        return new KinesisStreamsSourceReader(stream, config, context);
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
    public TypeInformation<byte[]> getProducedType() {
        return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
    }

    /** Names follow the official KinesisStreamsSourceBuilder. */
    public static final class Builder {
        private String stream;
        private final Configuration config = new Configuration();

        public Builder setStreamArn(String streamArn) {
            this.stream = streamArn;
            return this;
        }

        /** Emulators such as kinesalite only accept names, not ARNs. */
        public Builder setStreamName(String streamName) {
            this.stream = streamName;
            return this;
        }

        public Builder setSourceConfig(Configuration sourceConfig) {
            this.config.addAll(sourceConfig);
            return this;
        }

        public KinesisStreamsSource build() {
            if (stream == null || stream.isEmpty()) {
                throw new IllegalArgumentException("set the stream with setStreamArn or setStreamName");
            }
            return new KinesisStreamsSource(stream, config);
        }
    }
}
