package dev.shardline.flink.firehose;

import java.io.Serializable;

/**
 * How the Firehose sink batches and buffers; the defaults are the official connector's (its table options'
 * names are in {@link FirehoseDynamicTableFactory}).
 */
public record FirehoseSinkSettings(int batchSize, int maxInFlight, int maxBuffered, long flushBytes,
                                   long flushMillis, boolean failOnError) implements Serializable {
    public static final FirehoseSinkSettings DEFAULTS =
            new FirehoseSinkSettings(500, 16, 10_000, FirehoseSink.MAX_BATCH_BYTES, 5_000, false);
}
