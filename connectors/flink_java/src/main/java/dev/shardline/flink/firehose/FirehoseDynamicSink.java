package dev.shardline.flink.firehose;

import dev.shardline.flink.kinesis.table.AsyncSinkTableOptions;
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
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.firehose.model.Record;

/** A table written to a Firehose delivery stream: each row through the table's format is one record. */
final class FirehoseDynamicSink implements DynamicTableSink {
    private final String deliveryStream;
    private final Configuration config;
    private final EncodingFormat<SerializationSchema<RowData>> format;
    private final DataType physicalType;
    private final AsyncSinkTableOptions.Settings settings;

    FirehoseDynamicSink(String deliveryStream, Configuration config, EncodingFormat<SerializationSchema<RowData>> format,
                        DataType physicalType, AsyncSinkTableOptions.Settings settings) {
        this.deliveryStream = deliveryStream;
        this.config = config;
        this.format = format;
        this.physicalType = physicalType;
        this.settings = settings;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requested) {
        return format.getChangelogMode();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        SerializationSchema<RowData> encoder = format.createRuntimeEncoder(context, physicalType);
        return SinkV2Provider.of(new FirehoseSink<>(new RowConverter(encoder), deliveryStream, config, settings));
    }

    @Override
    public DynamicTableSink copy() {
        return new FirehoseDynamicSink(deliveryStream, config, format, physicalType, settings);
    }

    @Override
    public String asSummaryString() {
        return FirehoseDynamicTableFactory.IDENTIFIER + "(" + deliveryStream + ")";
    }

    /** Row to Firehose record: the format's bytes. */
    static final class RowConverter implements ElementConverter<RowData, Record> {
        private static final long serialVersionUID = 1L;
        private final SerializationSchema<RowData> encoder;

        RowConverter(SerializationSchema<RowData> encoder) {
            this.encoder = encoder;
        }

        @Override
        public void open(WriterInitContext context) {
            TableEncoders.open(encoder, context);
        }

        @Override
        public Record apply(RowData row, SinkWriter.Context context) {
            return Record.builder().data(SdkBytes.fromByteArrayUnsafe(encoder.serialize(row))).build();
        }
    }
}
