package dev.shardline.flink.kinesis;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.client.builder.AwsClientBuilder;
import software.amazon.awssdk.http.async.SdkAsyncHttpClient;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kinesis.KinesisAsyncClient;
import software.amazon.awssdk.services.kinesis.KinesisClient;

import java.net.URI;
import java.time.Duration;

import static org.apache.flink.configuration.ConfigOptions.key;

/**
 * Every option of the source and the sink, with its default, and the AWS clients built from them.
 * Keys are the official flink-connector-aws ones wherever that connector has one, so a job can
 * switch to the official jar by changing class names only.
 */
public final class KinesisOptions {
    private KinesisOptions() {}

    /** Where a shard is first read from; later shards (children of a reshard) start at TRIM_HORIZON. */
    public enum InitialPosition { LATEST, TRIM_HORIZON, AT_TIMESTAMP }

    public static final ConfigOption<String> AWS_REGION = key("aws.region").stringType().noDefaultValue()
            .withDescription("Region; the SDK's default chain (AWS_REGION, profile) when unset.");
    public static final ConfigOption<String> AWS_ENDPOINT = key("aws.endpoint").stringType().noDefaultValue()
            .withDescription("Endpoint override, e.g. a local emulator; the regional endpoint when unset.");
    public static final ConfigOption<String> AWS_CREDENTIALS_PROVIDER = key("aws.credentials.provider")
            .stringType().defaultValue("AUTO")
            .withDescription("AUTO: the SDK default chain. BASIC: the access key pair below.");
    public static final ConfigOption<String> AWS_ACCESS_KEY_ID =
            key("aws.credentials.provider.basic.accesskeyid").stringType().noDefaultValue();
    public static final ConfigOption<String> AWS_SECRET_ACCESS_KEY =
            key("aws.credentials.provider.basic.secretkey").stringType().noDefaultValue();
    public static final ConfigOption<Boolean> AWS_CBOR_ENABLED = key("aws.cbor.enabled").booleanType()
            .defaultValue(true)
            .withDescription("false: JSON, for an emulator that speaks only JSON (kinesalite, with our "
                    + "preload, and kinesis-mock speak CBOR).");

    public static final ConfigOption<InitialPosition> STREAM_INITIAL_POSITION = key("source.init.position")
            .enumType(InitialPosition.class).defaultValue(InitialPosition.LATEST)
            .withDescription("Where shards found at the job's first start are read from.");
    public static final ConfigOption<String> STREAM_INITIAL_TIMESTAMP = key("source.init.timestamp")
            .stringType().noDefaultValue()
            .withDescription("For AT_TIMESTAMP: an ISO-8601 instant or epoch seconds.");
    public static final ConfigOption<Duration> SHARD_DISCOVERY_INTERVAL = key("source.shard.discovery.interval")
            .durationType().defaultValue(Duration.ofSeconds(10))
            .withDescription("How often ListShards looks for new shards (resharding).");
    public static final ConfigOption<Integer> SHARD_GET_RECORDS_MAX =
            key("source.shard.get-records.max-record-count").intType().defaultValue(10000)
                    .withDescription("Limit of one GetRecords call (Kinesis allows at most 10000).");
    public static final ConfigOption<Duration> READER_EMPTY_RECORDS_FETCH_INTERVAL =
            key("source.reader.empty-records-fetch-interval").durationType().defaultValue(Duration.ofMillis(250))
                    .withDescription("Pause on a shard after an empty GetRecords (5 calls/s/shard is the limit).");
    public static final ConfigOption<Boolean> SOURCE_BOUNDED = key("source.bounded").booleanType()
            .defaultValue(false)
            .withDescription("Finish each shard once a read finds it caught up (no records, 0 ms behind), "
                    + "and end the job when all shards found at start are done. For tests, demos, replays.");
    public static final ConfigOption<Duration> RETRY_MIN_DELAY = key("source.retry.delay.min").durationType()
            .defaultValue(Duration.ofMillis(100)).withDescription("First backoff after throttling or an error.");
    public static final ConfigOption<Duration> RETRY_MAX_DELAY = key("source.retry.delay.max").durationType()
            .defaultValue(Duration.ofSeconds(10)).withDescription("Backoff ceiling (full jitter below it).");
    public static final ConfigOption<Integer> RETRY_MAX_ATTEMPTS = key("source.retry.attempts.max").intType()
            .defaultValue(20)
            .withDescription("Consecutive connection failures before the job fails; throttling retries forever.");

    /** Blocking client for ListShards / GetRecords, which run on their own threads anyway. */
    static KinesisClient syncClient(ReadableConfig config) {
        var builder = KinesisClient.builder().httpClient(UrlConnectionHttpClient.create());
        return configure(builder, config).build();
    }

    /** Non-blocking client for the sink: AsyncSinkWriter expects submitRequestEntries not to block. */
    static KinesisAsyncClient asyncClient(ReadableConfig config, int maxConcurrency) {
        SdkAsyncHttpClient http = NettyNioAsyncHttpClient.builder().maxConcurrency(maxConcurrency).build();
        return configure(KinesisAsyncClient.builder().httpClient(http), config).build();
    }

    /** Where requests go, for error messages. */
    public static String describeEndpoint(ReadableConfig config) {
        return describeEndpoint(config, "Kinesis");
    }

    /** Where a client of {@code service} goes: the aws.endpoint override, or the service's regional endpoint. */
    public static String describeEndpoint(ReadableConfig config, String service) {
        return config.getOptional(AWS_ENDPOINT).map(e -> e + " (aws.endpoint)").orElse("the regional " + service
                + " endpoint" + config.getOptional(AWS_REGION).map(r -> " of " + r).orElse(""));
    }

    /** Region, endpoint, credentials (and CBOR for emulators) on any AWS client builder (the S3 sink's too). */
    public static <B extends AwsClientBuilder<B, ?>> B configure(B builder, ReadableConfig config) {
        if (!config.get(AWS_CBOR_ENABLED)) {
            // SDK v2 reads this property when it builds the protocol factory (for the whole JVM).
            System.setProperty("aws.cborEnabled", "false");
        }
        config.getOptional(AWS_REGION).ifPresent(r -> builder.region(Region.of(r)));
        config.getOptional(AWS_ENDPOINT).ifPresent(e -> builder.endpointOverride(URI.create(e)));
        return builder.credentialsProvider(credentials(config));
    }

    private static AwsCredentialsProvider credentials(ReadableConfig config) {
        String provider = config.get(AWS_CREDENTIALS_PROVIDER);
        switch (provider) {
            case "AUTO":
                return DefaultCredentialsProvider.builder().build();
            case "BASIC":
                String id = config.getOptional(AWS_ACCESS_KEY_ID).orElseThrow(() -> new IllegalArgumentException(
                        "aws.credentials.provider is BASIC but " + AWS_ACCESS_KEY_ID.key() + " is not set"));
                String secret = config.getOptional(AWS_SECRET_ACCESS_KEY).orElseThrow(() -> new IllegalArgumentException(
                        "aws.credentials.provider is BASIC but " + AWS_SECRET_ACCESS_KEY.key() + " is not set"));
                return StaticCredentialsProvider.create(AwsBasicCredentials.create(id, secret));
            default:
                throw new IllegalArgumentException("aws.credentials.provider must be AUTO or BASIC, not " + provider);
        }
    }
}
