package dev.shardline.flink.s3;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

/** The planner's view of a {@code shardline-s3} table: its format, and the Sink that writes the objects. */
final class S3ObjectsTableSink implements DynamicTableSink {
    private final S3Objects objects;
    private final EncodingFormat<SerializationSchema<RowData>> format;
    private final DataType physicalType;

    S3ObjectsTableSink(S3Objects objects, EncodingFormat<SerializationSchema<RowData>> format, DataType physicalType) {
        this.objects = objects;
        this.format = format;
        this.physicalType = physicalType;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requested) {
        return ChangelogMode.insertOnly();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        SerializationSchema<RowData> encoder = format.createRuntimeEncoder(context, physicalType);
        return SinkV2Provider.of(new S3ObjectsSink(objects, encoder));
    }

    @Override
    public DynamicTableSink copy() {
        return new S3ObjectsTableSink(objects, format, physicalType);
    }

    @Override
    public String asSummaryString() {
        return "shardline-s3(" + objects.path() + ")";
    }
}
