package dev.shardline.flink.timeseries;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * {@code plain_reading(payload_json, max_future_ms, valid_ranges_json)}: one row {@code (plain, device_id,
 * metric, value, event_ms)}, {@code plain} true only for a reading that {@code pipelines.timeseries.readings}
 * is sure to accept as it is: a flat object with a non-empty {@code device_id} (no {@code /}) and {@code
 * metric}, a finite number {@code value} inside its metric's range, and {@code event_time} as epoch
 * milliseconds between 1970 and {@code max_future_ms} ahead of the clock, no {@code attributes}, no key twice.
 *
 * <p>It never refuses: whatever is not plain (ISO times, attributes, anything odd or wrong) goes to the Python
 * check, which gives the reading or the reason every engine gives.  So the job calls Python only for those
 * records, and the rules live in one place; this class only recognises the common case that needs none of
 * them.  The numbers are Python's: a JSON number is read as the nearest double on both sides.
 */
@FunctionHint(output = @DataTypeHint("ROW<plain BOOLEAN, device_id STRING, metric STRING, `value` DOUBLE, event_ms BIGINT>"))
public final class PlainReading extends TableFunction<Row> {
    private static final long serialVersionUID = 1L;
    private static final JsonFactory JSON = new JsonFactory();
    private static final Row NOT_PLAIN = Row.of(false, null, null, null, null);

    private transient String rangesText;
    private transient Map<String, double[]> ranges;

    public void eval(String payloadJson, Long maxFutureMs, String validRangesJson) {
        collect(payloadJson == null ? NOT_PLAIN
                : read(payloadJson, maxFutureMs == null ? 86_400_000L : maxFutureMs, rangesOf(validRangesJson),
                       System.currentTimeMillis()));
    }

    static Row read(String json, long maxFutureMs, Map<String, double[]> ranges, long nowMs) {
        String deviceId = null;
        String metric = null;
        Double value = null;
        Long eventMs = null;
        try (JsonParser parser = JSON.createParser(json)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return NOT_PLAIN;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken token = parser.nextToken();
                switch (name) {
                    case "device_id":
                        if (deviceId != null || token != JsonToken.VALUE_STRING) {
                            return NOT_PLAIN;
                        }
                        deviceId = parser.getText();
                        break;
                    case "metric":
                        if (metric != null || token != JsonToken.VALUE_STRING) {
                            return NOT_PLAIN;
                        }
                        metric = parser.getText();
                        break;
                    case "value":
                        if (value != null || (token != JsonToken.VALUE_NUMBER_INT && token != JsonToken.VALUE_NUMBER_FLOAT)
                                || parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                            return NOT_PLAIN;
                        }
                        value = token == JsonToken.VALUE_NUMBER_INT ? (double) parser.getLongValue() : parser.getDoubleValue();
                        break;
                    case "event_time":
                        if (eventMs != null || token != JsonToken.VALUE_NUMBER_INT
                                || parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                            return NOT_PLAIN;
                        }
                        eventMs = parser.getLongValue();
                        break;
                    case "attributes":
                        return NOT_PLAIN;  // checked (and written to the raw store) by Python
                    default:
                        parser.skipChildren();  // Python ignores other keys too
                }
            }
            if (parser.nextToken() != null) {
                return NOT_PLAIN;  // text after the object: not what Python would read
            }
        } catch (IOException e) {
            return NOT_PLAIN;
        }
        if (!plainName(deviceId) || deviceId.indexOf('/') >= 0 || !plainName(metric) || value == null
                || !Double.isFinite(value) || eventMs == null || eventMs < 0
                || eventMs > ReadingTime.MAX_EVENT_TIME_MS || eventMs - nowMs > maxFutureMs) {
            return NOT_PLAIN;
        }
        double[] bounds = ranges.get(metric);
        if (bounds != null && !(bounds[0] <= value && value <= bounds[1])) {
            return NOT_PLAIN;
        }
        return Row.of(true, deviceId, metric, value, eventMs);
    }

    /** Non-empty, and no lone surrogate: Python refuses one in a name, with its own reason. */
    private static boolean plainName(String name) {
        if (name == null || name.isEmpty()) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            if (Character.isSurrogate(name.charAt(i))) {
                return false;  // paired or not: the rare case is Python's to judge
            }
        }
        return true;
    }

    /** The valid ranges, {@code {"metric": [low, high], ...}}, parsed once per text. */
    private Map<String, double[]> rangesOf(String text) {
        if (ranges == null || !java.util.Objects.equals(text, rangesText)) {
            ranges = parseRanges(text);
            rangesText = text;
        }
        return ranges;
    }

    static Map<String, double[]> parseRanges(String text) {
        Map<String, double[]> out = new HashMap<>();
        if (text == null || text.isEmpty()) {
            return out;
        }
        try (JsonParser parser = JSON.createParser(text)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                throw new IllegalArgumentException("valid ranges must be a JSON object of [low, high] pairs");
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String metric = parser.currentName();
                if (parser.nextToken() != JsonToken.START_ARRAY) {
                    throw new IllegalArgumentException("valid range of " + metric + " must be [low, high]");
                }
                parser.nextToken();
                double low = parser.getDoubleValue();
                parser.nextToken();
                double high = parser.getDoubleValue();
                if (parser.nextToken() != JsonToken.END_ARRAY) {
                    throw new IllegalArgumentException("valid range of " + metric + " must be [low, high]");
                }
                out.put(metric, new double[] {low, high});
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("valid ranges are not JSON: " + e.getMessage(), e);
        }
        return out;
    }
}
