package dev.shardline.flink.kinesis.table;

import dev.shardline.flink.kinesis.KinesisStreamsSource;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.ProviderContext;
import org.apache.flink.table.connector.source.DataStreamScanProvider;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.connector.source.SourceProvider;
import org.apache.flink.table.connector.source.abilities.SupportsReadingMetadata;
import org.apache.flink.table.connector.source.abilities.SupportsWatermarkPushDown;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Kinesis stream as a table: each user record through the table's format, plus metadata columns.
 *
 * <p>A table's {@code WATERMARK} is pushed into the source, so each shard has its own watermark and the
 * table's is their minimum: without it, a watermark assigner after the source would follow whichever shard
 * ran ahead (after a restore, one shard replays seconds of records before another), and the records of the
 * shard behind would be late.
 */
final class KinesisDynamicSource implements ScanTableSource, SupportsReadingMetadata, SupportsWatermarkPushDown {

    /** The metadata columns: the official connector's keys, and {@code partition-key} and
     * {@code sub-sequence-number} (a user record's index inside a KPL aggregate; 0 for a plain record). */
    enum Metadata {
        TIMESTAMP("timestamp", DataTypes.TIMESTAMP_LTZ(3).notNull()),
        SHARD_ID("shard-id", DataTypes.VARCHAR(128).notNull()),
        SEQUENCE_NUMBER("sequence-number", DataTypes.VARCHAR(128).notNull()),
        PARTITION_KEY("partition-key", DataTypes.VARCHAR(256).notNull()),
        SUB_SEQUENCE_NUMBER("sub-sequence-number", DataTypes.BIGINT().notNull());

        final String key;
        final DataType type;

        Metadata(String key, DataType type) {
            this.key = key;
            this.type = type;
        }

        static Metadata of(String key) {
            for (Metadata m : values()) {
                if (m.key.equals(key)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown metadata key " + key);
        }
    }

    private final String stream;
    private final Configuration config;
    private final DecodingFormat<DeserializationSchema<RowData>> format;
    private final DataType physicalType;
    private List<Metadata> metadata = List.of();
    private DataType producedType;
    private WatermarkStrategy<RowData> watermarks;

    KinesisDynamicSource(String stream, Configuration config, DecodingFormat<DeserializationSchema<RowData>> format,
                         DataType physicalType) {
        this.stream = stream;
        this.config = config;
        this.format = format;
        this.physicalType = physicalType;
        this.producedType = physicalType;
    }

    @Override
    public ChangelogMode getChangelogMode() {
        return format.getChangelogMode();
    }

    @Override
    public ScanRuntimeProvider getScanRuntimeProvider(ScanContext context) {
        DeserializationSchema<RowData> decoder = format.createRuntimeDecoder(context, physicalType);
        TypeInformation<RowData> produced = context.createTypeInformation(producedType);
        var builder = KinesisStreamsSource.builder().setSourceConfig(config);
        builder = stream.startsWith("arn:") ? builder.setStreamArn(stream) : builder.setStreamName(stream);
        KinesisStreamsSource<RowData> source =
                builder.setDeserializer(new RowDataKinesisDeserializer(decoder, metadata, produced)).build();
        if (watermarks == null) {
            return SourceProvider.of(source);
        }
        WatermarkStrategy<RowData> strategy = watermarks;
        String name = asSummaryString();
        return new DataStreamScanProvider() {
            @Override
            public DataStream<RowData> produceDataStream(ProviderContext provider, StreamExecutionEnvironment env) {
                DataStreamSource<RowData> stream = env.fromSource(source, strategy, name, produced);
                provider.generateUid("source").ifPresent(stream::uid);
                return stream;
            }

            @Override
            public boolean isBounded() {
                return source.getBoundedness() == Boundedness.BOUNDED;
            }
        };
    }

    @Override
    public void applyWatermark(WatermarkStrategy<RowData> watermarkStrategy) {
        this.watermarks = watermarkStrategy;
    }

    @Override
    public Map<String, DataType> listReadableMetadata() {
        Map<String, DataType> out = new LinkedHashMap<>();
        for (Metadata m : Metadata.values()) {
            out.put(m.key, m.type);
        }
        return out;
    }

    @Override
    public void applyReadableMetadata(List<String> keys, DataType producedDataType) {
        List<Metadata> chosen = new ArrayList<>(keys.size());
        for (String key : keys) {
            chosen.add(Metadata.of(key));
        }
        this.metadata = List.copyOf(chosen);
        this.producedType = producedDataType;
    }

    @Override
    public DynamicTableSource copy() {
        KinesisDynamicSource copy = new KinesisDynamicSource(stream, config, format, physicalType);
        copy.metadata = metadata;
        copy.producedType = producedType;
        copy.watermarks = watermarks;
        return copy;
    }

    @Override
    public String asSummaryString() {
        return "shardline-kinesis(" + stream + ")";
    }
}
