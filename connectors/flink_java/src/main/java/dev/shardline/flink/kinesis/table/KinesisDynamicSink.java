package dev.shardline.flink.kinesis.table;

import dev.shardline.flink.kinesis.KinesisStreamsSink;
import dev.shardline.flink.kinesis.exactlyonce.KinesisExactlyOnceSink;
import dev.shardline.flink.table.TableEncoders;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.connector.sink.abilities.SupportsPartitioning;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

import java.util.Map;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;

/**
 * A table written to a Kinesis stream: each row through the table's format, keyed by its partitioner; at least
 * once by default, or exactly once ({@code sink.delivery-guarantee}) through {@link KinesisExactlyOnceSink}.
 */
final class KinesisDynamicSink implements DynamicTableSink, SupportsPartitioning {
    private final String stream;
    private final Configuration config;
    private final EncodingFormat<SerializationSchema<RowData>> format;
    private final DataType physicalType;
    private final KinesisPartitioner partitioner;
    private final AsyncSinkTableOptions.Settings settings;
    private final boolean exactlyOnce;

    KinesisDynamicSink(String stream, Configuration config, EncodingFormat<SerializationSchema<RowData>> format,
                       DataType physicalType, KinesisPartitioner partitioner, AsyncSinkTableOptions.Settings settings,
                       boolean exactlyOnce) {
        this.exactlyOnce = exactlyOnce;
        this.stream = stream;
        this.config = config;
        this.format = format;
        this.physicalType = physicalType;
        this.partitioner = partitioner;
        this.settings = settings;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requested) {
        return format.getChangelogMode();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        SerializationSchema<RowData> encoder = format.createRuntimeEncoder(context, physicalType);
        if (exactlyOnce) {
            // The batching settings do not apply: a commit sends a checkpoint's rows in calls of Kinesis's limits.
            KinesisExactlyOnceSink.Builder<RowData> once = KinesisExactlyOnceSink.<RowData>builder()
                    .setElementConverter(new RowConverter(encoder, partitioner))
                    .setKinesisClientProperties(config).setFailOnError(settings.failOnError());
            once = stream.startsWith("arn:") ? once.setStreamArn(stream) : once.setStreamName(stream);
            return SinkV2Provider.of(once.build());
        }
        KinesisStreamsSink.Builder<RowData> builder = KinesisStreamsSink.<RowData>builder()
                .setElementConverter(new RowConverter(encoder, partitioner))
                .setKinesisClientProperties(config)
                .setMaxBatchSize(settings.batchSize()).setMaxInFlightRequests(settings.maxInFlight())
                .setMaxBufferedRequests(settings.maxBuffered()).setMaxBatchSizeInBytes(settings.flushBytes())
                .setMaxTimeInBufferMS(settings.flushMillis()).setFailOnError(settings.failOnError());
        builder = stream.startsWith("arn:") ? builder.setStreamArn(stream) : builder.setStreamName(stream);
        return SinkV2Provider.of(builder.build());
    }

    /** Static partition values are in the rows already (the planner adds them): the partitioner reads them there. */
    @Override
    public void applyStaticPartition(Map<String, String> partition) {}

    @Override
    public DynamicTableSink copy() {
        return new KinesisDynamicSink(stream, config, format, physicalType, partitioner, settings, exactlyOnce);
    }

    @Override
    public String asSummaryString() {
        return "shardline-kinesis(" + stream + (exactlyOnce ? ", exactly-once)" : ")");
    }

    /** Row to PutRecords entry: the format's bytes, the partitioner's key. */
    static final class RowConverter implements ElementConverter<RowData, PutRecordsRequestEntry> {
        private static final long serialVersionUID = 1L;
        private final SerializationSchema<RowData> encoder;
        private final KinesisPartitioner partitioner;
        private transient int subtask;

        RowConverter(SerializationSchema<RowData> encoder, KinesisPartitioner partitioner) {
            this.encoder = encoder;
            this.partitioner = partitioner;
        }

        @Override
        public void open(WriterInitContext context) {
            subtask = context.getTaskInfo().getIndexOfThisSubtask();
            TableEncoders.open(encoder, context);
        }

        @Override
        public PutRecordsRequestEntry apply(RowData row, SinkWriter.Context context) {
            return PutRecordsRequestEntry.builder().data(SdkBytes.fromByteArrayUnsafe(encoder.serialize(row)))
                    .partitionKey(partitioner.key(row, subtask)).build();
        }
    }
}
