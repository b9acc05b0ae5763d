package dev.shardline.flink.timeseries;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

import java.time.LocalDateTime;
import java.time.ZoneOffset;

/** {@code epoch_ms(TIMESTAMP(3)) -> BIGINT}: a UTC timestamp (a window's start or end) in epoch milliseconds. */
public final class EpochMillis extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    public Long eval(@DataTypeHint("TIMESTAMP(3)") LocalDateTime time) {
        return time == null ? null : time.toInstant(ZoneOffset.UTC).toEpochMilli();
    }
}
