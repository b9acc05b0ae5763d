package dev.shardline.flink.s3;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

/** The planner's view of a {@code shardline-s3} table: its format, and the Sink that writes the objects. */
final class S3ObjectsTableSink implements DynamicTableSink {
    private final String path;
    private final Configuration client;
    private final EncodingFormat<SerializationSchema<RowData>> format;
    private final DataType physicalType;
    private final int timeIndex;
    private final boolean seconds;
    private final boolean avro;
    private final int maxRecords;
    private final int attempts;

    S3ObjectsTableSink(String path, Configuration client, EncodingFormat<SerializationSchema<RowData>> format,
                       DataType physicalType, int timeIndex, boolean seconds, boolean avro, int maxRecords,
                       int attempts) {
        this.path = path;
        this.client = client;
        this.format = format;
        this.physicalType = physicalType;
        this.timeIndex = timeIndex;
        this.seconds = seconds;
        this.avro = avro;
        this.maxRecords = maxRecords;
        this.attempts = attempts;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requested) {
        return ChangelogMode.insertOnly();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        SerializationSchema<RowData> encoder = format.createRuntimeEncoder(context, physicalType);
        return SinkV2Provider.of(new S3ObjectsSink(path, client, encoder, timeIndex, seconds, avro, maxRecords,
                attempts));
    }

    @Override
    public DynamicTableSink copy() {
        return new S3ObjectsTableSink(path, client, format, physicalType, timeIndex, seconds, avro, maxRecords,
                attempts);
    }

    @Override
    public String asSummaryString() {
        return "shardline-s3(" + path + ")";
    }
}
