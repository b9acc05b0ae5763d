package dev.shardline.flink.firehose;

import dev.shardline.flink.kinesis.table.AsyncSinkTableOptions;
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

import java.util.HashSet;
import java.util.Set;

/**
 * The {@code shardline-firehose} table connector: a sink table on a Firehose (Direct PUT) delivery stream.
 *
 * <p>Options carry the names of the official {@code flink-connector-aws-kinesis-firehose} table connector,
 * so a {@code CREATE TABLE} moves between the two jars by changing {@code 'connector'} alone; the
 * identifier differs from the official {@code firehose}, so both jars can sit on one classpath.
 *
 * <pre>{@code
 * CREATE TABLE search (entry BYTES) WITH (
 *   'connector' = 'shardline-firehose',          -- or 'firehose' with the official jar
 *   'delivery-stream' = 'masked-payments',
 *   'aws.region' = 'us-east-1',
 *   'format' = 'raw');
 * }</pre>
 */
public final class FirehoseDynamicTableFactory implements DynamicTableSinkFactory {
    public static final String IDENTIFIER = "shardline-firehose";

    public static final ConfigOption<String> DELIVERY_STREAM = ConfigOptions.key("delivery-stream").stringType()
            .noDefaultValue().withDescription("Name of the delivery stream (Direct PUT) this table writes to.");

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(DELIVERY_STREAM, FactoryUtil.FORMAT);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>(AsyncSinkTableOptions.OPTIONS);
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
        AsyncSinkTableOptions.refuseTrustAll(options, IDENTIFIER);
        AsyncSinkTableOptions.Settings settings = AsyncSinkTableOptions.Settings.of(options);
        if (settings.batchSize() < 1 || settings.batchSize() > FirehoseSink.MAX_BATCH_RECORDS) {
            throw new ValidationException("sink.batch.max-size must be 1 to " + FirehoseSink.MAX_BATCH_RECORDS
                    + " (PutRecordBatch's limit), got " + settings.batchSize());
        }
        return new FirehoseDynamicSink(options.get(DELIVERY_STREAM), AwsTableOptions.clientConfiguration(options),
                format, context.getPhysicalRowDataType(), settings);
    }
}
