package dev.shardline.flink.s3;

import dev.shardline.flink.envelope.EnvelopeFormatFactory;
import dev.shardline.flink.kinesis.table.AwsTableOptions;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.factories.SerializationFormatFactory;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import java.util.HashSet;
import java.util.Set;

/**
 * {@code 'connector' = 'shardline-s3'}: rows written as S3 objects under {@code <path>/dt=YYYY-MM-DD/hour=HH/},
 * the layout of shardline's S3 sinks, without Hadoop or flink-s3-fs.
 *
 * <p>Rows wait in the writer and are written when a checkpoint is taken (and at the end of a bounded
 * input, and early when {@code sink.max-records} wait in one partition): what a checkpoint covers is in
 * S3 before it completes, so a restore loses nothing (at least once; a crash between an object's write and
 * its checkpoint writes those rows again).  With {@code 'format' = 'shardline-envelope'} an object is an
 * Avro container of envelopes (what {@code read_avro_file} reads); with other formats, one row per line.
 * Keys begin with the write time in milliseconds, so they sort in write order.
 */
public final class S3ObjectsTableFactory implements DynamicTableSinkFactory {
    public static final String IDENTIFIER = "shardline-s3";

    public static final ConfigOption<String> PATH = ConfigOptions.key("path").stringType().noDefaultValue()
            .withDescription("s3://bucket/prefix");
    public static final ConfigOption<String> PARTITION_TIME_COLUMN = ConfigOptions.key("partition.time-column")
            .stringType().noDefaultValue()
            .withDescription("BIGINT epoch ms or DOUBLE epoch s column for dt=/hour=; default event_time, else now.");
    public static final ConfigOption<Integer> MAX_RECORDS = ConfigOptions.key("sink.max-records").intType()
            .defaultValue(50_000).withDescription("Rows of one partition written early as one object.");
    public static final ConfigOption<Integer> WRITE_ATTEMPTS = ConfigOptions.key("sink.write.attempts").intType()
            .defaultValue(5).withDescription("PutObject attempts on throttling or 5xx before the job fails.");

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(PATH, FactoryUtil.FORMAT);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>(Set.of(PARTITION_TIME_COLUMN, MAX_RECORDS, WRITE_ATTEMPTS));
        options.addAll(AwsTableOptions.OPTIONS);
        return options;
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        EncodingFormat<SerializationSchema<RowData>> format =
                helper.discoverEncodingFormat(SerializationFormatFactory.class, FactoryUtil.FORMAT);
        helper.validate();
        ReadableConfig options = helper.getOptions();
        String path = options.get(PATH);
        if (!path.startsWith("s3://") || path.length() <= 5 || path.substring(5).startsWith("/")) {
            throw new ValidationException("path must look like s3://bucket/prefix, got " + path);
        }
        RowType row = (RowType) context.getPhysicalRowDataType().getLogicalType();
        String timeColumn = options.getOptional(PARTITION_TIME_COLUMN)
                .orElse(row.getFieldNames().contains("event_time") ? "event_time" : null);
        int timeIndex = -1;
        boolean seconds = false;
        if (timeColumn != null) {
            timeIndex = row.getFieldNames().indexOf(timeColumn);
            if (timeIndex < 0) {
                throw new ValidationException("partition.time-column: the table has no column " + timeColumn);
            }
            LogicalTypeRoot root = row.getTypeAt(timeIndex).getTypeRoot();
            if (root != LogicalTypeRoot.BIGINT && root != LogicalTypeRoot.DOUBLE) {
                throw new ValidationException("partition.time-column " + timeColumn
                        + " must be BIGINT (epoch ms) or DOUBLE (epoch s)");
            }
            seconds = root == LogicalTypeRoot.DOUBLE;
        }
        boolean avro = EnvelopeFormatFactory.IDENTIFIER.equals(options.get(FactoryUtil.FORMAT));
        S3Objects objects = new S3Objects(path, AwsTableOptions.clientConfiguration(options), timeIndex, seconds,
                avro, options.get(MAX_RECORDS), options.get(WRITE_ATTEMPTS));
        return new S3ObjectsTableSink(objects, format, context.getPhysicalRowDataType());
    }
}
