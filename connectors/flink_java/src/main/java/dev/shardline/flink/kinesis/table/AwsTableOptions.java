package dev.shardline.flink.kinesis.table;

import dev.shardline.flink.kinesis.KinesisOptions;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;

import java.util.List;
import java.util.Set;

/**
 * The AWS client options every table of ours takes (Kinesis and S3), under the official connector's names,
 * and their translation into {@link KinesisOptions}, which configures the SDK clients.
 */
public final class AwsTableOptions {
    public static final ConfigOption<String> ACCESS_KEY_ID = ConfigOptions.key("aws.credentials.basic.accesskeyid")
            .stringType().noDefaultValue().withDescription("Access key id when aws.credentials.provider is BASIC.");
    public static final ConfigOption<String> SECRET_KEY = ConfigOptions.key("aws.credentials.basic.secretkey")
            .stringType().noDefaultValue().withDescription("Secret key when aws.credentials.provider is BASIC.");

    /** Region, endpoint, credentials provider and BASIC keys: optional options of every table factory. */
    public static final Set<ConfigOption<?>> OPTIONS = Set.of(KinesisOptions.AWS_REGION, KinesisOptions.AWS_ENDPOINT,
            KinesisOptions.AWS_CREDENTIALS_PROVIDER, ACCESS_KEY_ID, SECRET_KEY);

    private AwsTableOptions() {
    }

    /** The table's AWS options as client options (the BASIC keys have other names there). */
    public static Configuration clientConfiguration(ReadableConfig options) {
        Configuration config = new Configuration();
        for (ConfigOption<?> option : List.of(KinesisOptions.AWS_REGION, KinesisOptions.AWS_ENDPOINT,
                KinesisOptions.AWS_CREDENTIALS_PROVIDER)) {
            copy(options, config, option);
        }
        options.getOptional(ACCESS_KEY_ID).ifPresent(v -> config.set(KinesisOptions.AWS_ACCESS_KEY_ID, v));
        options.getOptional(SECRET_KEY).ifPresent(v -> config.set(KinesisOptions.AWS_SECRET_ACCESS_KEY, v));
        return config;
    }

    static <T> void copy(ReadableConfig from, Configuration to, ConfigOption<T> option) {
        from.getOptional(option).ifPresent(value -> to.set(option, value));
    }
}
