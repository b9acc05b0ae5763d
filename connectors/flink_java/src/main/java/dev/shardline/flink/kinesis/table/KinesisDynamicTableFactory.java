package dev.shardline.flink.kinesis.table;

import dev.shardline.flink.kinesis.KinesisOptions;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.factories.SerializationFormatFactory;

import java.math.BigDecimal;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Set;

/**
 * The {@code shardline-kinesis} table connector: Kinesis tables for SQL and the Table API.
 *
 * <p>Options carry the names of the official {@code flink-connector-aws-kinesis-streams} 6.x table
 * connector, so a {@code CREATE TABLE} moves between the two jars by changing {@code 'connector'}
 * alone.  The identifier differs from the official {@code kinesis}, so both jars can be on one
 * classpath.  Ours adds {@code source.bounded} and a {@code partition-key} metadata column.
 *
 * <pre>{@code
 * CREATE TABLE orders (
 *   order_id STRING, amount DOUBLE,
 *   arrival_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
 *   shard_id STRING METADATA FROM 'shard-id' VIRTUAL
 * ) PARTITIONED BY (order_id) WITH (
 *   'connector' = 'shardline-kinesis',            -- or 'kinesis' with the official jar
 *   'stream.arn' = 'arn:aws:kinesis:us-east-1:123456789012:stream/orders',
 *   'aws.region' = 'us-east-1',
 *   'source.init.position' = 'TRIM_HORIZON',
 *   'format' = 'json');
 * }</pre>
 */
public final class KinesisDynamicTableFactory implements DynamicTableSourceFactory, DynamicTableSinkFactory {
    public static final String IDENTIFIER = "shardline-kinesis";

    public static final ConfigOption<String> STREAM_ARN = ConfigOptions.key("stream.arn").stringType().noDefaultValue()
            .withDescription("The stream's ARN (emulators that take names only: its name).");
    public static final ConfigOption<String> INITIAL_TIMESTAMP_FORMAT = ConfigOptions.key("source.init.timestamp.format")
            .stringType().defaultValue("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
            .withDescription("How source.init.timestamp is written (epoch seconds are accepted too).");
    public static final ConfigOption<String> READER_TYPE = ConfigOptions.key("source.reader.type").stringType()
            .defaultValue("POLLING").withDescription("POLLING (EFO is not supported by this connector).");

    public static final ConfigOption<String> SINK_PARTITIONER = ConfigOptions.key("sink.partitioner").stringType()
            .noDefaultValue().withDescription("random (default) or fixed; a PARTITIONED BY table uses its columns.");
    public static final ConfigOption<String> SINK_PARTITIONER_FIELD_DELIMITER =
            ConfigOptions.key("sink.partitioner-field-delimiter").stringType().defaultValue("|")
                    .withDescription("Joins the PARTITIONED BY columns into the partition key.");
    /** Kafka's option name and values; 'none' is refused (at-least-once costs Kinesis nothing more). */
    public static final ConfigOption<DeliveryGuarantee> SINK_DELIVERY_GUARANTEE =
            ConfigOptions.key("sink.delivery-guarantee").enumType(DeliveryGuarantee.class)
                    .defaultValue(DeliveryGuarantee.AT_LEAST_ONCE)
                    .withDescription("at-least-once: records are sent as they come and may repeat after a restore. "
                            + "exactly-once: records are written when the checkpoint holding them completes, "
                            + "and a restore reads the stream back to write each record once.");

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(STREAM_ARN, FactoryUtil.FORMAT);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new java.util.HashSet<>(Set.of(
                KinesisOptions.AWS_CBOR_ENABLED,
                KinesisOptions.STREAM_INITIAL_POSITION, KinesisOptions.STREAM_INITIAL_TIMESTAMP, INITIAL_TIMESTAMP_FORMAT,
                KinesisOptions.SHARD_DISCOVERY_INTERVAL, KinesisOptions.SHARD_GET_RECORDS_MAX, READER_TYPE,
                KinesisOptions.READER_EMPTY_RECORDS_FETCH_INTERVAL, KinesisOptions.SOURCE_BOUNDED,
                KinesisOptions.RETRY_MIN_DELAY, KinesisOptions.RETRY_MAX_DELAY, KinesisOptions.RETRY_MAX_ATTEMPTS,
                SINK_PARTITIONER, SINK_PARTITIONER_FIELD_DELIMITER, SINK_DELIVERY_GUARANTEE));
        options.addAll(AwsTableOptions.OPTIONS);
        options.addAll(AsyncSinkTableOptions.OPTIONS);
        return options;
    }

    @Override
    public DynamicTableSource createDynamicTableSource(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        DecodingFormat<DeserializationSchema<RowData>> format =
                helper.discoverDecodingFormat(DeserializationFormatFactory.class, FactoryUtil.FORMAT);
        helper.validate();
        ReadableConfig options = helper.getOptions();
        if (!"POLLING".equalsIgnoreCase(options.get(READER_TYPE))) {
            throw new ValidationException("source.reader.type: only POLLING is supported by " + IDENTIFIER);
        }
        return new KinesisDynamicSource(options.get(STREAM_ARN), clientConfiguration(options), format,
                context.getPhysicalRowDataType());
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        EncodingFormat<SerializationSchema<RowData>> format =
                helper.discoverEncodingFormat(SerializationFormatFactory.class, FactoryUtil.FORMAT);
        helper.validate();
        ReadableConfig options = helper.getOptions();
        List<String> partitionColumns = context.getCatalogTable().getPartitionKeys();
        String partitioner = options.getOptional(SINK_PARTITIONER).orElse("random");
        if (!partitionColumns.isEmpty() && options.getOptional(SINK_PARTITIONER).isPresent()) {
            throw new ValidationException("sink.partitioner cannot be set on a table with PARTITIONED BY: its "
                    + "columns " + partitionColumns + " make the partition key");
        }
        if (partitionColumns.isEmpty() && !List.of("random", "fixed").contains(partitioner)) {
            throw new ValidationException("sink.partitioner: " + IDENTIFIER + " supports random and fixed, not "
                    + partitioner);
        }
        DeliveryGuarantee guarantee = options.get(SINK_DELIVERY_GUARANTEE);
        if (guarantee == DeliveryGuarantee.NONE) {
            throw new ValidationException("sink.delivery-guarantee: " + IDENTIFIER + " supports at-least-once and "
                    + "exactly-once, not none");
        }
        KinesisPartitioner keys = KinesisPartitioner.of(partitioner, partitionColumns,
                options.get(SINK_PARTITIONER_FIELD_DELIMITER), context.getPhysicalRowDataType());
        return new KinesisDynamicSink(options.get(STREAM_ARN), clientConfiguration(options), format,
                context.getPhysicalRowDataType(), keys, AsyncSinkTableOptions.Settings.of(options),
                guarantee == DeliveryGuarantee.EXACTLY_ONCE);
    }

    /** The table's options as the connector's client and source options (the BASIC keys have other names). */
    static Configuration clientConfiguration(ReadableConfig options) {
        AsyncSinkTableOptions.refuseTrustAll(options, IDENTIFIER);
        Configuration config = AwsTableOptions.clientConfiguration(options);
        for (ConfigOption<?> option : List.of(KinesisOptions.AWS_CBOR_ENABLED,
                KinesisOptions.STREAM_INITIAL_POSITION, KinesisOptions.SHARD_DISCOVERY_INTERVAL,
                KinesisOptions.SHARD_GET_RECORDS_MAX, KinesisOptions.READER_EMPTY_RECORDS_FETCH_INTERVAL,
                KinesisOptions.SOURCE_BOUNDED, KinesisOptions.RETRY_MIN_DELAY, KinesisOptions.RETRY_MAX_DELAY,
                KinesisOptions.RETRY_MAX_ATTEMPTS)) {
            AwsTableOptions.copy(options, config, option);
        }
        options.getOptional(KinesisOptions.STREAM_INITIAL_TIMESTAMP).ifPresent(v ->
                config.set(KinesisOptions.STREAM_INITIAL_TIMESTAMP, epochSeconds(v, options.get(INITIAL_TIMESTAMP_FORMAT))));
        return config;
    }

    /** source.init.timestamp in the table's format (or already epoch seconds), as the source takes it. */
    static String epochSeconds(String value, String pattern) {
        try {
            Double.parseDouble(value);
            return value;
        } catch (NumberFormatException notANumber) {
            try {
                ZonedDateTime at = ZonedDateTime.parse(value, DateTimeFormatter.ofPattern(pattern));
                return BigDecimal.valueOf(at.toInstant().toEpochMilli()).movePointLeft(3).toPlainString();
            } catch (DateTimeParseException | IllegalArgumentException e) {
                throw new ValidationException("source.init.timestamp: '" + value + "' does not match "
                        + "source.init.timestamp.format '" + pattern + "' and is not epoch seconds");
            }
        }
    }
}
