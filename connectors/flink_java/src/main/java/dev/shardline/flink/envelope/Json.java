package dev.shardline.flink.envelope;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
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
        if (plain(text, ascii)) {
            return "\"" + text + "\"";
        }
        return quoteTo(new StringBuilder(text.length() + 8), text, ascii).toString();
    }

    /** Appends {@code text} quoted as {@link #quote(String)} writes it; returns {@code out}. */
    public static StringBuilder quoteTo(StringBuilder out, String text, boolean ascii) {
        out.append('"');
        if (plain(text, ascii)) {
            return out.append(text).append('"');
        }
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String escaped = escape(c, ascii);
            if (escaped == null) {
                out.append(c);
            } else {
                out.append(escaped);
            }
        }
        return out.append('"');
    }

    /**
     * Python's {@code json.dumps} escape of {@code c}, or null for a character it writes as it is: quotes,
     * backslashes and control characters (lower-case hex), and with {@code ascii} everything past ASCII.
     */
    static String escape(char c, boolean ascii) {
        return switch (c) {
            case '"' -> "\\\"";
            case '\\' -> "\\\\";
            case '\n' -> "\\n";
            case '\r' -> "\\r";
            case '\t' -> "\\t";
            case '\b' -> "\\b";
            case '\f' -> "\\f";
            default -> c < 0x20 || (ascii && c > 0x7e)
                    ? "\\u" + HEX[c >> 12] + HEX[(c >> 8) & 0xF] + HEX[(c >> 4) & 0xF] + HEX[c & 0xF] : null;
        };
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    /** Nothing in {@code text} to escape: most strings, copied whole. */
    private static boolean plain(String text, boolean ascii) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < 0x20 || c == '"' || c == '\\' || (ascii && c > 0x7e)) {
                return false;
            }
        }
        return true;
    }

    static String number(double value) {
        return Double.toString(value);  // NaN, Infinity, -Infinity: what Python's json writes and reads
    }

    /** A streaming parser with the features {@link #parse} reads with (NaN and Infinity accepted). */
    static JsonParser parser(String text) throws IOException {
        return MAPPER.createParser(text);
    }

    /** {@link #parser(String)} over UTF-8 (a table string's bytes, not decoded first). */
    static JsonParser parser(byte[] utf8) throws IOException {
        return MAPPER.createParser(utf8);
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
