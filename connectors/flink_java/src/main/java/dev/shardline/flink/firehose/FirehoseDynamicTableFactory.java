package dev.shardline.flink.firehose;

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
import java.util.List;
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
    public static final ConfigOption<Integer> SINK_BATCH_MAX_SIZE = ConfigOptions.key("sink.batch.max-size").intType()
            .defaultValue(FirehoseSinkSettings.DEFAULTS.batchSize())
            .withDescription("Records per PutRecordBatch call (at most 500).");
    public static final ConfigOption<Integer> SINK_REQUESTS_MAX_INFLIGHT = ConfigOptions.key("sink.requests.max-inflight")
            .intType().defaultValue(FirehoseSinkSettings.DEFAULTS.maxInFlight())
            .withDescription("PutRecordBatch calls in flight before backpressure.");
    public static final ConfigOption<Integer> SINK_REQUESTS_MAX_BUFFERED = ConfigOptions.key("sink.requests.max-buffered")
            .intType().defaultValue(FirehoseSinkSettings.DEFAULTS.maxBuffered())
            .withDescription("Records buffered before backpressure.");
    public static final ConfigOption<Long> SINK_FLUSH_BUFFER_SIZE = ConfigOptions.key("sink.flush-buffer.size").longType()
            .defaultValue(FirehoseSinkSettings.DEFAULTS.flushBytes())
            .withDescription("Bytes buffered before a flush (a call carries 4 MiB at most).");
    public static final ConfigOption<Long> SINK_FLUSH_BUFFER_TIMEOUT = ConfigOptions.key("sink.flush-buffer.timeout")
            .longType().defaultValue(FirehoseSinkSettings.DEFAULTS.flushMillis())
            .withDescription("Milliseconds a record waits in the buffer at most.");
    public static final ConfigOption<Boolean> SINK_FAIL_ON_ERROR = ConfigOptions.key("sink.fail-on-error").booleanType()
            .defaultValue(FirehoseSinkSettings.DEFAULTS.failOnError())
            .withDescription("Fail the job on a refused record instead of retrying it.");
    public static final ConfigOption<Boolean> TRUST_ALL_CERTIFICATES = ConfigOptions.key("aws.trust.all.certificates")
            .booleanType().defaultValue(false).withDescription("Accepted for the official connector's tables; true is refused.");
    // The official connector's HTTP client settings: accepted, so its tables plan here; our client tunes itself.
    private static final List<ConfigOption<?>> ACCEPTED_HTTP_OPTIONS = List.of(
            ConfigOptions.key("sink.http-client.max-concurrency").intType().noDefaultValue(),
            ConfigOptions.key("sink.http-client.read-timeout").intType().noDefaultValue(),
            ConfigOptions.key("sink.http-client.protocol.version").stringType().noDefaultValue());

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
        Set<ConfigOption<?>> options = new HashSet<>(Set.of(SINK_BATCH_MAX_SIZE, SINK_REQUESTS_MAX_INFLIGHT,
                SINK_REQUESTS_MAX_BUFFERED, SINK_FLUSH_BUFFER_SIZE, SINK_FLUSH_BUFFER_TIMEOUT, SINK_FAIL_ON_ERROR,
                TRUST_ALL_CERTIFICATES));
        options.addAll(AwsTableOptions.OPTIONS);
        options.addAll(ACCEPTED_HTTP_OPTIONS);
        return options;
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        EncodingFormat<SerializationSchema<RowData>> format =
                helper.discoverEncodingFormat(SerializationFormatFactory.class, FactoryUtil.FORMAT);
        helper.validate();
        ReadableConfig options = helper.getOptions();
        if (options.get(TRUST_ALL_CERTIFICATES)) {
            throw new ValidationException("aws.trust.all.certificates: " + IDENTIFIER + " always verifies certificates");
        }
        int batchSize = options.get(SINK_BATCH_MAX_SIZE);
        if (batchSize < 1 || batchSize > FirehoseSink.MAX_BATCH_RECORDS) {
            throw new ValidationException("sink.batch.max-size must be 1 to " + FirehoseSink.MAX_BATCH_RECORDS
                    + " (PutRecordBatch's limit), got " + batchSize);
        }
        FirehoseSinkSettings settings = new FirehoseSinkSettings(batchSize, options.get(SINK_REQUESTS_MAX_INFLIGHT),
                options.get(SINK_REQUESTS_MAX_BUFFERED), options.get(SINK_FLUSH_BUFFER_SIZE),
                options.get(SINK_FLUSH_BUFFER_TIMEOUT), options.get(SINK_FAIL_ON_ERROR));
        return new FirehoseDynamicSink(options.get(DELIVERY_STREAM), AwsTableOptions.clientConfiguration(options),
                format, context.getPhysicalRowDataType(), settings);
    }
}
