package dev.shardline.flink.dynamodb;

import dev.shardline.flink.kinesis.table.AsyncSinkTableOptions;
import dev.shardline.flink.kinesis.table.AwsTableOptions;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.logical.RowType;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The {@code shardline-dynamodb} table connector: a sink table whose rows are items of a DynamoDB table.
 *
 * <p>Options carry the names of the official {@code flink-connector-dynamodb} table connector (which the
 * Maven mirror here does not serve), so a {@code CREATE TABLE} moves between the two jars by changing
 * {@code 'connector'} alone.  As there, {@code PARTITIONED BY} names the table's key: a batch keeps the last
 * row of each key, as BatchWriteItem refuses two puts of one key in a call.
 *
 * <pre>{@code
 * CREATE TABLE windows (series STRING, window_start BIGINT, `count` BIGINT, mean DOUBLE)
 *   PARTITIONED BY (series, window_start) WITH (
 *   'connector' = 'shardline-dynamodb',          -- or 'dynamodb' with the official jar
 *   'table-name' = 'telemetry-windows',
 *   'aws.region' = 'us-east-1');
 * }</pre>
 */
public final class DynamoDbDynamicTableFactory implements DynamicTableSinkFactory {
    public static final String IDENTIFIER = "shardline-dynamodb";
    public static final ConfigOption<String> TABLE_NAME = ConfigOptions.key("table-name").stringType()
            .noDefaultValue().withDescription("Name of the DynamoDB table the rows are written to.");
    public static final ConfigOption<Boolean> IGNORE_NULLS = ConfigOptions.key("sink.ignore-nulls").booleanType()
            .defaultValue(false).withDescription("Leave NULL columns out of the item instead of writing NULL.");

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(TABLE_NAME);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>(AsyncSinkTableOptions.OPTIONS);
        options.addAll(AwsTableOptions.OPTIONS);
        options.add(IGNORE_NULLS);
        return options;
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate();
        ReadableConfig options = helper.getOptions();
        AsyncSinkTableOptions.refuseTrustAll(options, IDENTIFIER);
        AsyncSinkTableOptions.Settings shared = AsyncSinkTableOptions.Settings.of(options);
        // BatchWriteItem takes 25 requests: the default here (the shared option's 500 is PutRecords').
        int batch = options.getOptional(AsyncSinkTableOptions.SINK_BATCH_MAX_SIZE).orElse(DynamoDbSink.MAX_BATCH_RECORDS);
        if (batch < 1 || batch > DynamoDbSink.MAX_BATCH_RECORDS) {
            throw new ValidationException("sink.batch.max-size must be 1 to " + DynamoDbSink.MAX_BATCH_RECORDS
                    + " (BatchWriteItem's limit), got " + batch);
        }
        var settings = new AsyncSinkTableOptions.Settings(batch, shared.maxInFlight(), shared.maxBuffered(),
                shared.flushBytes(), shared.flushMillis(), shared.failOnError());
        RowType rowType = (RowType) context.getPhysicalRowDataType().getLogicalType();
        List<String> keys = context.getCatalogTable().getPartitionKeys();
        return new DynamoDbDynamicSink(options.get(TABLE_NAME), keys, AwsTableOptions.clientConfiguration(options),
                rowType, options.get(IGNORE_NULLS), settings);
    }
}
