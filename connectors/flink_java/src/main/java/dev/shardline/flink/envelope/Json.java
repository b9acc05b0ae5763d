package dev.shardline.flink.envelope;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.json.JsonMapper;

import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * JSON for payloads, with Flink's own (shaded) Jackson: objects keep their key order, integers are longs,
 * other numbers doubles; NaN and Infinity are read and written as Python's json module does.
 */
public final class Json {
    private Json() {}

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .enable(DeserializationFeature.USE_LONG_FOR_INTS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /**
     * A JSON string exactly as Python's {@code json.dumps(text, ensure_ascii=False)} writes it, so Java and
     * Python outputs compare byte for byte.  Hand-written because Jackson writes other control characters'
     * escapes in upper-case hex, where Python writes lower case.
     */
    public static String quote(String text) {
        return quote(text, false);
    }

    /** As {@link #quote(String)}; with {@code ascii}, as {@code json.dumps(text)} (non-ASCII as \\u escapes). */
    public static String quote(String text, boolean ascii) {
        StringBuilder out = new StringBuilder(text.length() + 2).append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || (ascii && c > 0x7e)) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    static String number(double value) {
        return Double.toString(value);  // NaN, Infinity, -Infinity: what Python's json writes and reads
    }

    /** A JSON value: Map (key order kept), List, String, Long, Double, Boolean or null. */
    static Object parse(String text) {
        Object value;
        try {
            value = MAPPER.readValue(text, Object.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e.getOriginalMessage());
        }
        return normalise(value);
    }

    private static Object normalise(Object value) {
        if (value instanceof Map<?, ?> map) {
            Map<String, Object> out = new LinkedHashMap<>();
            map.forEach((k, v) -> out.put((String) k, normalise(v)));
            return out;
        }
        if (value instanceof BigInteger big) {
            return big.doubleValue();  // past 64 bits: a double, as the envelope cannot hold it as a long
        }
        if (value instanceof Number n && !(value instanceof Long) && !(value instanceof Double)) {
            return n.doubleValue();
        }
        return value;
    }
}
