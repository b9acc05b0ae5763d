package dev.shardline.flink.kinesis.table;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;

import java.io.Serializable;
import java.util.Set;

/**
 * The sink options our AsyncSink tables share (Kinesis and Firehose), under the official connectors' names and
 * defaults, and the settings a sink is built with from them.
 */
public final class AsyncSinkTableOptions {
    public static final ConfigOption<Integer> SINK_BATCH_MAX_SIZE = ConfigOptions.key("sink.batch.max-size").intType()
            .defaultValue(500).withDescription("Records per call (PutRecords and PutRecordBatch take 500 at most).");
    public static final ConfigOption<Integer> SINK_REQUESTS_MAX_INFLIGHT = ConfigOptions.key("sink.requests.max-inflight")
            .intType().defaultValue(16).withDescription("Calls in flight before backpressure.");
    public static final ConfigOption<Integer> SINK_REQUESTS_MAX_BUFFERED = ConfigOptions.key("sink.requests.max-buffered")
            .intType().defaultValue(10000).withDescription("Records buffered before backpressure.");
    public static final ConfigOption<Long> SINK_FLUSH_BUFFER_SIZE = ConfigOptions.key("sink.flush-buffer.size").longType()
            .defaultValue(5L * 1024 * 1024).withDescription("Bytes buffered before a flush.");
    public static final ConfigOption<Long> SINK_FLUSH_BUFFER_TIMEOUT = ConfigOptions.key("sink.flush-buffer.timeout")
            .longType().defaultValue(5000L).withDescription("Milliseconds a record waits in the buffer at most.");
    public static final ConfigOption<Boolean> SINK_FAIL_ON_ERROR = ConfigOptions.key("sink.fail-on-error").booleanType()
            .defaultValue(false).withDescription("Fail the job on a refused record instead of retrying it.");
    public static final ConfigOption<Boolean> TRUST_ALL_CERTIFICATES = ConfigOptions.key("aws.trust.all.certificates")
            .booleanType().defaultValue(false).withDescription("Accepted for the official connector's tables; true is refused.");

    /** The options above, and the official connectors' HTTP client settings: accepted, so their tables plan
     * here, and ignored (our clients tune themselves). */
    public static final Set<ConfigOption<?>> OPTIONS = Set.of(SINK_BATCH_MAX_SIZE, SINK_REQUESTS_MAX_INFLIGHT,
            SINK_REQUESTS_MAX_BUFFERED, SINK_FLUSH_BUFFER_SIZE, SINK_FLUSH_BUFFER_TIMEOUT, SINK_FAIL_ON_ERROR,
            TRUST_ALL_CERTIFICATES,
            ConfigOptions.key("sink.http-client.max-concurrency").intType().noDefaultValue(),
            ConfigOptions.key("sink.http-client.read-timeout").intType().noDefaultValue(),
            ConfigOptions.key("sink.http-client.protocol.version").stringType().noDefaultValue());

    /** How an AsyncSink batches and buffers. */
    public record Settings(int batchSize, int maxInFlight, int maxBuffered, long flushBytes, long flushMillis,
                           boolean failOnError) implements Serializable {
        public static Settings of(ReadableConfig options) {
            return new Settings(options.get(SINK_BATCH_MAX_SIZE), options.get(SINK_REQUESTS_MAX_INFLIGHT),
                    options.get(SINK_REQUESTS_MAX_BUFFERED), options.get(SINK_FLUSH_BUFFER_SIZE),
                    options.get(SINK_FLUSH_BUFFER_TIMEOUT), options.get(SINK_FAIL_ON_ERROR));
        }
    }

    private AsyncSinkTableOptions() {
    }

    /** Our clients always verify certificates: a table asking otherwise fails at planning, naming the option. */
    public static void refuseTrustAll(ReadableConfig options, String identifier) {
        if (options.get(TRUST_ALL_CERTIFICATES)) {
            throw new ValidationException("aws.trust.all.certificates: " + identifier + " always verifies certificates");
        }
    }
}
