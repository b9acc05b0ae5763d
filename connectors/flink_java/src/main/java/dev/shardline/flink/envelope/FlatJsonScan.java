package dev.shardline.flink.envelope;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A flat JSON object read straight from its UTF-8 bytes into the entries of the envelope's Avro payload map
 * (key, then the value's union branch: 0 null, 1 boolean, 2 long, 3 double, 4 string), for the payloads every job
 * of ours writes: string, number and literal values, keys with no escape.  Anything else (an integer past 18
 * digits, a nested value, a lone surrogate, a repeated key, {@code $base64}, malformed text) is refused, and
 * the caller reads the payload with Jackson, which gives the same bytes or the error.
 *
 * <p>Hand-written because Jackson's parser set-up and its decoding of each string to chars (encoded again to
 * UTF-8) were most of the encoding of the event-sourcing job's derived events (JFR: 20 of the 29 samples of
 * {@code EnvelopeCodec.encodeUtf8}).  The input is valid UTF-8 (the codec checks it first), so bytes past
 * ASCII are copied as they are.
 */
final class FlatJsonScan {
    private byte[] json;
    private int at;
    private byte[] text = new byte[TEXT];  // a string value, unescaped
    private int textLength;
    private final int[] keyStarts = new int[MAX_KEYS];
    private final int[] keyEnds = new int[MAX_KEYS];

    private static final int TEXT = 256;
    private static final int TEXT_KEPT = 64 * 1024;  // a buffer grown past this by a rare long string is dropped
    private static final int MAX_KEYS = 32;  // more: Jackson's path, whose set checks repeats in O(1)
    private static final int MAX_LONG_DIGITS = 18;  // fewer than Long's 19: no overflow to check

    /**
     * The map's entries of {@code json} written to {@code entries} and their count; -1, with what was written
     * to be dropped.  One scanner serves a thread's payloads one after another (the codec's writer holds it):
     * its buffers are not made again for each record.
     */
    int entries(byte[] json, EntryWriter entries) {
        this.json = json;
        at = 0;
        if (text.length > TEXT_KEPT) {
            text = new byte[TEXT];
        }
        try {
            return scan(entries);
        } finally {
            this.json = null;  // the payload is not kept past the call
        }
    }

    /** Where the entries go: the codec's Avro writer. */
    interface EntryWriter {
        void varlong(long value);

        void doubleValue(double value);

        void write(int b);

        void bytes(byte[] data, int from, int count);
    }

    private int scan(EntryWriter out) {
        space();
        if (!take('{')) {
            return -1;
        }
        space();
        int count = 0;
        if (take('}')) {
            return end() ? 0 : -1;
        }
        while (true) {
            int keyStart = at + 1;
            if (!plainKey()) {
                return -1;
            }
            int keyEnd = at - 1;
            if (count == MAX_KEYS || repeated(keyStart, keyEnd, count) || isBase64Key(keyStart, keyEnd)) {
                return -1;
            }
            keyStarts[count] = keyStart;
            keyEnds[count] = keyEnd;
            space();
            if (!take(':')) {
                return -1;
            }
            space();
            out.bytes(json, keyStart, keyEnd - keyStart);
            if (!value(out)) {
                return -1;
            }
            count++;
            space();
            if (take('}')) {
                return end() ? count : -1;
            }
            if (!take(',')) {
                return -1;
            }
            space();
        }
    }

    private boolean value(EntryWriter out) {
        if (at >= json.length) {
            return false;
        }
        switch (json[at]) {
            case '"' -> {
                if (!string()) {
                    return false;
                }
                out.varlong(4);
                out.bytes(text, 0, textLength);
            }
            case 't' -> {
                if (!literal("true")) {
                    return false;
                }
                out.varlong(1);
                out.write(1);
            }
            case 'f' -> {
                if (!literal("false")) {
                    return false;
                }
                out.varlong(1);
                out.write(0);
            }
            case 'n' -> {
                if (!literal("null")) {
                    return false;
                }
                out.varlong(0);
            }
            default -> {
                return number(out);
            }
        }
        return true;
    }

    /**
     * A JSON number: an integer of at most 18 digits as a long; one with a fraction or an exponent as a double,
     * read as Jackson's path reads it ({@code Double.parseDouble} of its text, correctly rounded, as Python's
     * {@code json} reads it too).  The payments payloads every bench uses carry a price: refused, each one was
     * scanned up to it and then parsed again by Jackson (JFR: a fifth of the passthrough job's task thread).
     */
    private boolean number(EntryWriter out) {
        int start = at;
        boolean negative = take('-');
        int digitsStart = at;
        long value = 0;
        while (at < json.length && isDigit(json[at])) {
            value = value * 10 + (json[at] - '0');  // wraps past 18 digits, which are refused below
            at++;
        }
        int digits = at - digitsStart;
        if (digits == 0 || (json[digitsStart] == '0' && digits > 1)) {
            return false;
        }
        boolean real = false;
        if (take('.')) {
            if (!digits()) {
                return false;
            }
            real = true;
        }
        if (at < json.length && (json[at] == 'e' || json[at] == 'E')) {
            at++;
            if (!take('+')) {
                take('-');
            }
            if (!digits()) {
                return false;
            }
            real = true;
        }
        if (real) {
            out.varlong(3);
            out.doubleValue(Double.parseDouble(new String(json, start, at - start, StandardCharsets.ISO_8859_1)));
            return true;
        }
        if (digits > MAX_LONG_DIGITS) {
            return false;  // Jackson's path: a long, or past 64 bits a double
        }
        out.varlong(2);
        out.varlong(negative ? -value : value);
        return true;
    }

    /** One digit or more; {@code at} after them. */
    private boolean digits() {
        int start = at;
        while (at < json.length && isDigit(json[at])) {
            at++;
        }
        return at > start;
    }

    private static boolean isDigit(byte b) {
        return b >= '0' && b <= '9';
    }

    private boolean literal(String word) {
        if (json.length - at < word.length()) {
            return false;
        }
        for (int i = 0; i < word.length(); i++) {
            if (json[at + i] != word.charAt(i)) {
                return false;
            }
        }
        at += word.length();
        return true;
    }

    /** A key: a string with no escape (its bytes are its UTF-8); {@code at} after its closing quote. */
    private boolean plainKey() {
        if (!take('"')) {
            return false;
        }
        while (at < json.length) {
            byte b = json[at++];
            if (b == '"') {
                return true;
            }
            if (b == '\\' || (b >= 0 && b < 0x20)) {
                return false;
            }
        }
        return false;
    }

    /** A string value, unescaped into {@code text}; {@code at} after its closing quote. */
    private boolean string() {
        at++;  // the opening quote
        textLength = 0;
        while (at < json.length) {
            byte b = json[at++];
            if (b == '"') {
                return true;
            }
            if (b >= 0 && b < 0x20) {
                return false;  // a control character must be escaped
            }
            if (b != '\\') {
                put(b);
            } else if (!escape()) {
                return false;
            }
        }
        return false;
    }

    private boolean escape() {
        if (at >= json.length) {
            return false;
        }
        byte b = json[at++];
        switch (b) {
            case '"', '\\', '/' -> put(b);
            case 'b' -> put('\b');
            case 'f' -> put('\f');
            case 'n' -> put('\n');
            case 'r' -> put('\r');
            case 't' -> put('\t');
            case 'u' -> {
                int unit = hex4();
                if (unit < 0) {
                    return false;
                }
                int codePoint = unit;
                if (Character.isHighSurrogate((char) unit)) {
                    if (at + 1 >= json.length || json[at] != '\\' || json[at + 1] != 'u') {
                        return false;  // a lone surrogate: Jackson's path writes it as Java does
                    }
                    at += 2;
                    int low = hex4();
                    if (low < 0 || !Character.isLowSurrogate((char) low)) {
                        return false;
                    }
                    codePoint = Character.toCodePoint((char) unit, (char) low);
                } else if (Character.isLowSurrogate((char) unit)) {
                    return false;
                }
                utf8(codePoint);
            }
            default -> {
                return false;
            }
        }
        return true;
    }

    private int hex4() {
        if (json.length - at < 4) {
            return -1;
        }
        int value = 0;
        for (int i = 0; i < 4; i++) {
            int digit = Character.digit(json[at++], 16);
            if (digit < 0) {
                return -1;
            }
            value = value * 16 + digit;
        }
        return value;
    }

    private void utf8(int codePoint) {
        if (codePoint < 0x80) {
            put(codePoint);
        } else if (codePoint < 0x800) {
            put(0xC0 | (codePoint >> 6));
            put(0x80 | (codePoint & 0x3F));
        } else if (codePoint < 0x10000) {
            put(0xE0 | (codePoint >> 12));
            put(0x80 | ((codePoint >> 6) & 0x3F));
            put(0x80 | (codePoint & 0x3F));
        } else {
            put(0xF0 | (codePoint >> 18));
            put(0x80 | ((codePoint >> 12) & 0x3F));
            put(0x80 | ((codePoint >> 6) & 0x3F));
            put(0x80 | (codePoint & 0x3F));
        }
    }

    private void put(int b) {
        if (textLength == text.length) {
            text = Arrays.copyOf(text, 2 * text.length);
        }
        text[textLength++] = (byte) b;
    }

    private boolean repeated(int start, int end, int count) {
        for (int k = 0; k < count; k++) {
            if (Arrays.equals(json, start, end, json, keyStarts[k], keyEnds[k])) {
                return true;
            }
        }
        return false;
    }

    private boolean isBase64Key(int start, int end) {
        return Arrays.equals(json, start, end, BASE64_KEY, 0, BASE64_KEY.length);
    }

    private static final byte[] BASE64_KEY = {'$', 'b', 'a', 's', 'e', '6', '4'};

    private boolean take(char c) {
        if (at < json.length && json[at] == c) {
            at++;
            return true;
        }
        return false;
    }

    private void space() {
        while (at < json.length && (json[at] == ' ' || json[at] == '\n' || json[at] == '\r' || json[at] == '\t')) {
            at++;
        }
    }

    private boolean end() {
        space();
        return at == json.length;
    }
}
