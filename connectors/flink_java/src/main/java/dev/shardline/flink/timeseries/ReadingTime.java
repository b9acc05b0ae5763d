package dev.shardline.flink.timeseries;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.IOException;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;

/**
 * {@code reading_time(payload_json, max_future_ms) -> TIMESTAMP(3)}: a telemetry payload's {@code event_time}
 * (epoch milliseconds, or ISO 8601 text, UTC when it has no offset) as the row time the job's watermark
 * follows, in UTC (a TIMESTAMP, not an LTZ: windows then never depend on a session time zone); the epoch
 * ({@link #NO_TIME}) when it has none that a reading may have (missing, unreadable, before 1970, after 9999,
 * or more than {@code max_future_ms} ahead of the clock), so such a record can neither move the watermark
 * nor reach a window.  The Python step that checks readings ({@code pipelines.timeseries.readings}) gives the same time or
 * a reason; the job dead-letters a record where they disagree.
 */
public final class ReadingTime extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    static final long MAX_EVENT_TIME_MS = 253_402_300_799_999L;
    private static final JsonFactory JSON = new JsonFactory();
    /** What a record without a usable time gets: Flink refuses a NULL row time, and the epoch can neither move
     * the watermark nor reach a window (the job sends the record to its dead letters). */
    static final LocalDateTime NO_TIME = LocalDateTime.ofEpochSecond(0, 0, ZoneOffset.UTC);

    public @DataTypeHint("TIMESTAMP(3)") LocalDateTime eval(String payloadJson, Long maxFutureMs) {
        Long millis = payloadJson == null ? null : eventTime(payloadJson);
        if (millis == null || millis < 0 || millis > MAX_EVENT_TIME_MS
                || millis - System.currentTimeMillis() > (maxFutureMs == null ? 86_400_000L : maxFutureMs)) {
            return NO_TIME;
        }
        return LocalDateTime.ofEpochSecond(Math.floorDiv(millis, 1000), (int) Math.floorMod(millis, 1000) * 1_000_000,
                ZoneOffset.UTC);
    }

    /** The top-level {@code event_time} member in milliseconds, or null; only that member is read. */
    static Long eventTime(String json) {
        try (JsonParser parser = JSON.createParser(json)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken token = parser.nextToken();
                if (!"event_time".equals(name)) {
                    parser.skipChildren();
                    continue;
                }
                if (token == JsonToken.VALUE_NUMBER_INT) {
                    return parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? null : parser.getLongValue();
                }
                if (token == JsonToken.VALUE_NUMBER_FLOAT) {
                    double value = parser.getDoubleValue();
                    return value == Math.rint(value) && Math.abs(value) < 9.2e18 ? (long) value : null;
                }
                return token == JsonToken.VALUE_STRING ? iso(parser.getText()) : null;
            }
            return null;
        } catch (IOException e) {
            return null;
        }
    }

    static Long iso(String text) {
        String normal = text.replace('z', 'Z');
        try {
            return OffsetDateTime.parse(normal).toInstant().toEpochMilli();
        } catch (DateTimeParseException e) {
            try {
                return LocalDateTime.parse(normal).toInstant(ZoneOffset.UTC).toEpochMilli();
            } catch (DateTimeParseException again) {
                return null;
            }
        }
    }
}
