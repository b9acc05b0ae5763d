package dev.shardline.flink.table;

import org.apache.flink.table.data.StringData;

import java.nio.charset.StandardCharsets;

/** Java strings as Flink's table strings. */
public final class TableStrings {
    private TableStrings() {}

    /**
     * {@code StringData.fromString} encodes through a buffer it finds in a ThreadLocal, and that lookup alone
     * was a tenth of the SQL path's JVM time (JFR: the task thread's ThreadLocal map is crowded);
     * {@code String.getBytes} needs none, and copies a Latin-1 string as it is.
     */
    public static StringData of(String text) {
        return text == null ? null : StringData.fromBytes(text.getBytes(StandardCharsets.UTF_8));
    }
}
