package dev.shardline.flink.envelope;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * {@code payload_field(payload, name) -> STRING}: the top-level string field {@code name} of a payload given as
 * JSON text (the {@code shardline-envelope} format's {@code payload} column); NULL when the payload is NULL, is
 * no JSON object, or has no such string field.
 *
 * <p>What a job keys its records by (the event-sourcing job: {@code aggregate_id}).  {@code JSON_VALUE} gives
 * the same and cost a third of the source's thread (JFR): it parses the whole payload into a map for JsonPath;
 * this reads tokens up to the field and skips the values before it.
 */
public final class PayloadField extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    /** {@code payload} as the table holds it: its UTF-8 is parsed as it is, with no Java string made of it. */
    public String eval(@DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData payload, String name) {
        return payload == null ? null : stringField(payload.toBytes(), name);
    }

    /** The top-level string field {@code name} of the JSON object in {@code utf8}; null as {@link #eval}. */
    public static String stringField(byte[] utf8, String name) {
        if (utf8 == null || name == null) {
            return null;
        }
        String scanned = scan(utf8, name);
        return scanned != UNSURE ? scanned : parsed(utf8, name);
    }

    /** {@link #scan}'s answer when the bytes hold more than it reads: the parser decides. */
    private static final String UNSURE = new String("unsure");

    /**
     * The common case read straight from the bytes: a field whose value and the fields before it are plain
     * (strings of ASCII with no escape, numbers, literals).  Anything else is {@link #UNSURE}.  Hand-written
     * because the parser's set-up alone was most of this function's time (JFR: 9 of 15 samples of the
     * event-sourcing job's batcher), and a key is usually a payload's first field.
     */
    private static String scan(byte[] json, String name) {
        int i = space(json, 0);
        if (i >= json.length || json[i] != '{') {
            return UNSURE;
        }
        while (true) {
            i = space(json, i + 1);
            int keyEnd = plainString(json, i);
            if (keyEnd < 0) {
                return UNSURE;
            }
            boolean wanted = matches(json, i + 1, keyEnd, name);
            i = space(json, keyEnd + 1);
            if (i >= json.length || json[i] != ':') {
                return UNSURE;
            }
            i = space(json, i + 1);
            int valueEnd = i < json.length && json[i] == '"' ? plainString(json, i) : literalEnd(json, i);
            if (valueEnd < 0) {
                return UNSURE;
            }
            if (wanted) {
                return json[i] == '"' ? new String(json, i + 1, valueEnd - i - 1, StandardCharsets.ISO_8859_1) : null;
            }
            i = space(json, json[i] == '"' ? valueEnd + 1 : valueEnd);
            if (i >= json.length || json[i] != ',') {
                return i < json.length && json[i] == '}' ? null : UNSURE;
            }
        }
    }

    private static int space(byte[] json, int i) {
        while (i < json.length && (json[i] == ' ' || json[i] == '\n' || json[i] == '\r' || json[i] == '\t')) {
            i++;
        }
        return i;
    }

    /** The index of the closing quote of the string at {@code i}: ASCII with no escape or control; else -1. */
    private static int plainString(byte[] json, int i) {
        if (i >= json.length || json[i] != '"') {
            return -1;
        }
        for (int j = i + 1; j < json.length; j++) {
            byte b = json[j];
            if (b == '"') {
                return j;
            }
            if (b == '\\' || b < 0x20) {  // a byte past ASCII is negative
                return -1;
            }
        }
        return -1;
    }

    /** The end of the number or literal at {@code i} as JSON writes them; -1 for anything else. */
    private static int literalEnd(byte[] json, int i) {
        for (String literal : LITERALS) {
            if (json.length - i >= literal.length() && matches(json, i, i + literal.length(), literal)) {
                return i + literal.length();
            }
        }
        int j = i < json.length && json[i] == '-' ? i + 1 : i;
        int digits = digits(json, j);
        if (digits == j || (json[j] == '0' && digits > j + 1)) {
            return -1;
        }
        j = digits;
        if (j < json.length && json[j] == '.') {
            int fraction = digits(json, j + 1);
            if (fraction == j + 1) {
                return -1;
            }
            j = fraction;
        }
        if (j < json.length && (json[j] == 'e' || json[j] == 'E')) {
            int sign = j + 1 < json.length && (json[j + 1] == '+' || json[j + 1] == '-') ? j + 2 : j + 1;
            int exponent = digits(json, sign);
            if (exponent == sign) {
                return -1;
            }
            j = exponent;
        }
        return j;
    }

    private static final String[] LITERALS = {"true", "false", "null"};

    private static int digits(byte[] json, int i) {
        while (i < json.length && json[i] >= '0' && json[i] <= '9') {
            i++;
        }
        return i;
    }

    private static boolean matches(byte[] json, int from, int to, String text) {
        if (to - from != text.length()) {
            return false;
        }
        for (int i = 0; i < text.length(); i++) {
            if (json[from + i] != text.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** The parser's answer (package-private: a test holds {@link #scan} to it). */
    static String parsed(byte[] utf8, String name) {
        try (JsonParser parser = Json.parser(utf8)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                boolean wanted = name.equals(parser.currentName());
                JsonToken value = parser.nextToken();
                if (wanted) {
                    return value == JsonToken.VALUE_STRING ? parser.getText() : null;
                }
                parser.skipChildren();
            }
            return null;
        } catch (IOException e) {
            return null;
        }
    }
}
