package dev.shardline.flink.kinesis.table;

import dev.shardline.flink.table.TableStrings;

import dev.shardline.flink.kinesis.KinesisRecord;
import dev.shardline.flink.kinesis.KinesisRecordDeserializer;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.utils.JoinedRowData;
import org.apache.flink.util.Collector;

import java.io.IOException;
import java.util.List;

/** A table row per record: the format's columns, then the metadata columns the table asked for. */
final class RowDataKinesisDeserializer implements KinesisRecordDeserializer<RowData> {
    private static final long serialVersionUID = 1L;

    private final DeserializationSchema<RowData> format;
    private final List<KinesisDynamicSource.Metadata> metadata;
    private final TypeInformation<RowData> producedType;

    RowDataKinesisDeserializer(DeserializationSchema<RowData> format, List<KinesisDynamicSource.Metadata> metadata,
                               TypeInformation<RowData> producedType) {
        this.format = format;
        this.metadata = metadata;
        this.producedType = producedType;
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) throws Exception {
        format.open(context);
    }

    @Override
    public void deserialize(KinesisRecord record, Collector<RowData> out) throws IOException {
        if (metadata.isEmpty()) {
            format.deserialize(record.data(), out);
            return;
        }
        format.deserialize(record.data(), new Collector<>() {
            @Override
            public void collect(RowData physical) {
                GenericRowData extra = new GenericRowData(metadata.size());
                for (int i = 0; i < metadata.size(); i++) {
                    extra.setField(i, value(metadata.get(i), record));
                }
                out.collect(new JoinedRowData(physical.getRowKind(), physical, extra));
            }

            @Override
            public void close() {}
        });
    }

    private static Object value(KinesisDynamicSource.Metadata key, KinesisRecord record) {
        return switch (key) {
            case TIMESTAMP -> TimestampData.fromEpochMillis(record.approximateArrivalMillis());
            case SHARD_ID -> TableStrings.of(record.shardId());
            case SEQUENCE_NUMBER -> TableStrings.of(record.sequenceNumber());
            case PARTITION_KEY -> TableStrings.of(record.partitionKey());
            case SUB_SEQUENCE_NUMBER -> record.subSequenceNumber();
        };
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
