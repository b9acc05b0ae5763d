package dev.shardline.flink.envelope;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * shardline's record envelope in Avro binary (schemaless, as {@code pipelines.records.to_avro} writes it),
 * with the payload as its JSON text ({@code {"$base64": ...}} for bytes, as the JSON-lines edge writes it).
 *
 * <p>Written by hand for one fixed schema: the Avro library is not on the Flink runtime's classpath, and
 * this is the envelope's whole grammar.  Validation repeats {@code pipelines.records.validate}'s checks and
 * wording, so a record refused here is refused with the same reason by every engine.
 *
 * <pre>
 * record Envelope { string id; string type; string source; long event_time; string partition_key;
 *   union { null, string } schema; union { bytes, map&lt;union { null, boolean, long, double, string, bytes }&gt; } payload; }
 * </pre>
 */
public final class EnvelopeCodec {
    private EnvelopeCodec() {}

    /** A decoded envelope; {@code payloadJson} is the payload as JSON text. */
    public record Envelope(String id, String type, String source, long eventTime, String partitionKey,
                           String schema, String payloadJson) {}

    /** A string of a decoded envelope: {@code length} bytes of well-formed UTF-8 in {@code data} from {@code offset}. */
    public record Utf8(byte[] data, int offset, int length) {
        public String text() {
            return new String(data, offset, length, StandardCharsets.UTF_8);
        }
    }

    /**
     * A decoded envelope with its strings as UTF-8, the form Flink's table strings hold: the source hands them on
     * with no Java string made and encoded again (JFR, no-Python job: a fifth of the JVM's samples were decoding,
     * most of it building strings and the payload's JSON in a StringBuilder).  Strings point into the record.
     */
    public record Utf8Envelope(Utf8 id, Utf8 type, Utf8 source, long eventTime, Utf8 partitionKey, Utf8 schema,
                               Utf8 payloadJson) {
        public Envelope text() {
            return new Envelope(id.text(), type.text(), source.text(), eventTime, partitionKey.text(),
                    schema == null ? null : schema.text(), payloadJson.text());
        }
    }

    /** A record is not an envelope, or not a valid one: the reason names the field, never the value. */
    public static final class EnvelopeException extends Exception {
        private static final long serialVersionUID = 1L;

        EnvelopeException(String field, String reason) {
            super("field '" + field + "': " + reason);
        }
    }

    private static final int MAX_PARTITION_KEY = 256;
    private static final String[] REQUIRED = {"id", "type", "source", "partition_key"};
    private static final String[] TEXTS = {"id", "type", "source", "partition_key", "schema", "payload"};

    public static Envelope decode(byte[] data) throws EnvelopeException {
        return decodeUtf8(data).text();
    }

    public static Utf8Envelope decodeUtf8(byte[] data) throws EnvelopeException {
        Utf8Envelope envelope;
        try {
            Reader in = new Reader(data);
            Utf8 id = in.string();
            Utf8 type = in.string();
            Utf8 source = in.string();
            long eventTime = in.varlong();
            Utf8 key = in.string();
            long schemaBranch = in.varlong();
            Utf8 schema = switch ((int) schemaBranch) {
                case 0 -> null;
                case 1 -> in.string();
                default -> throw new BadBranch();
            };
            Utf8 payload = in.payloadJson();
            envelope = new Utf8Envelope(id, type, source, eventTime, key, schema, payload);
        } catch (RuntimeException e) {
            // Named as Python's fastavro reader would fail, so every engine gives the same reason.
            String cause = e instanceof BadBranch ? "IndexError" : e instanceof IndexOutOfBoundsException ? "EOFError"
                    : e instanceof CharacterCodingExceptionWrapper ? "UnicodeDecodeError" : "ValueError";
            throw new EnvelopeException("<record>", "not a shardline Avro envelope (" + cause + ")");
        }
        check(envelope.id().length(), envelope.type().length(), envelope.source().length(),
                envelope.partitionKey().length(), codePoints(envelope.partitionKey()), envelope.eventTime());
        return envelope;
    }

    /** Characters in well-formed UTF-8: the bytes that start one. */
    private static int codePoints(Utf8 text) {
        return codePoints(text.data(), text.offset(), text.length());
    }

    private static int codePoints(byte[] data, int offset, int length) {
        int count = 0;
        for (int i = offset, end = offset + length; i < end; i++) {
            if ((data[i] & 0xC0) != 0x80) {
                count++;
            }
        }
        return count;
    }

    /** {@code pipelines.records.validate}'s checks, in its order and words. */
    private static void check(int id, int type, int source, int partitionKey, int partitionKeyCharacters,
                              long eventTime) throws EnvelopeException {
        int[] lengths = {id, type, source, partitionKey};
        for (int i = 0; i < REQUIRED.length; i++) {
            if (lengths[i] == 0) {
                throw new EnvelopeException(REQUIRED[i], "must be a non-empty string");
            }
        }
        if (partitionKeyCharacters > MAX_PARTITION_KEY) {
            throw new EnvelopeException("partition_key", "longer than " + MAX_PARTITION_KEY + " characters");
        }
        if (eventTime < 0) {
            throw new EnvelopeException("event_time", "must be a non-negative integer (epoch milliseconds)");
        }
    }

    public static byte[] encode(Envelope e) throws EnvelopeException {
        return encodeUtf8(utf8(e.id()), utf8(e.type()), utf8(e.source()), e.eventTime(), utf8(e.partitionKey()),
                utf8(e.schema()), utf8(e.payloadJson()));
    }

    private static byte[] utf8(String text) {
        return text == null ? null : text.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * The envelope of strings given as UTF-8 ({@code null}: none), as a table row holds them: a sink encodes a
     * row with no Java string made of its fields and encoded again, and reads the payload's JSON from its bytes.
     */
    public static byte[] encodeUtf8(byte[] id, byte[] type, byte[] source, long eventTime, byte[] partitionKey,
                                    byte[] schema, byte[] payloadJson) throws EnvelopeException {
        check(length(id), length(type), length(source), length(partitionKey),
                partitionKey == null ? 0 : codePoints(partitionKey, 0, partitionKey.length), eventTime);
        byte[][] texts = {id, type, source, partitionKey, schema, payloadJson};
        for (int i = 0; i < texts.length; i++) {
            if (texts[i] != null && !isUtf8(texts[i])) {
                throw new EnvelopeException(TEXTS[i], "is not valid UTF-8");  // a row some SQL made of bytes
            }
        }
        Writer out = WRITERS.get().reset();
        out.bytes(id);
        out.bytes(type);
        out.bytes(source);
        out.varlong(eventTime);
        out.bytes(partitionKey);
        if (schema == null) {
            out.varlong(0);
        } else {
            out.varlong(1);
            out.bytes(schema);
        }
        out.payload(payloadJson == null ? EMPTY_OBJECT : payloadJson);
        return out.bytes();
    }

    private static final byte[] EMPTY_OBJECT = {'{', '}'};

    private static int length(byte[] text) {
        return text == null ? 0 : text.length;
    }

    private static boolean isUtf8(byte[] text) {
        try {
            Reader.checkUtf8(text, 0, text.length);
            return true;
        } catch (CharacterCodingExceptionWrapper e) {
            return false;
        }
    }

    // --- Avro binary -----------------------------------------------------------------------------

    private static final class CharacterCodingExceptionWrapper extends RuntimeException {
        private static final long serialVersionUID = 1L;
    }

    /** A union branch index past the union's branches. */
    private static final class BadBranch extends RuntimeException {
        private static final long serialVersionUID = 1L;
    }

    private static final class Reader {
        private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class,
                ByteOrder.LITTLE_ENDIAN);
        private static final long ASCII_MASK = 0x8080808080808080L;
        private final byte[] buffer;
        private int position;

        Reader(byte[] buffer) {
            this.buffer = buffer;
        }

        long varlong() {
            long raw = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (position >= buffer.length) {
                    throw new IndexOutOfBoundsException("truncated");
                }
                byte b = buffer[position++];
                raw |= (long) (b & 0x7F) << shift;
                if (b >= 0) {
                    return (raw >>> 1) ^ -(raw & 1);  // zig-zag
                }
            }
            throw new IllegalStateException("varint longer than 10 bytes");
        }

        byte[] bytes() {
            long length = varlong();
            if (length < 0 || length > buffer.length - position) {
                throw new IndexOutOfBoundsException("truncated");
            }
            byte[] out = java.util.Arrays.copyOfRange(buffer, position, position + (int) length);
            position += (int) length;
            return out;
        }

        /**
         * Strict UTF-8, as Python decodes it.  Checked by hand rather than with a reporting CharsetDecoder:
         * that one was allocated per string and, with the re-encoding into Flink's strings, took a fifth of
         * the SQL path's JVM time (JFR); ASCII, most of what envelopes hold, is only scanned.
         */
        Utf8 string() {
            long length = varlong();
            if (length < 0 || length > buffer.length - position) {
                throw new IndexOutOfBoundsException("truncated");
            }
            int start = position, end = position + (int) length;
            position = end;
            checkUtf8(buffer, start, end);
            return new Utf8(buffer, start, end - start);
        }

        /** Throws unless {@code data[from, to)} is well-formed UTF-8 (no overlong forms, no surrogates). */
        private static void checkUtf8(byte[] data, int from, int to) {
            int i = from;
            while (i < to) {
                // Eight ASCII bytes at a time: most of what envelopes hold (JFR: this check, a byte at a time,
                // was a third of decoding an envelope on the SQL path).
                while (i + Long.BYTES <= to && ((long) LONGS.get(data, i) & ASCII_MASK) == 0) {
                    i += Long.BYTES;
                }
                if (i >= to) {
                    break;
                }
                int b = data[i] & 0xFF;
                if (b < 0x80) {
                    i++;
                    continue;
                }
                int more, low = 0x80, high = 0xBF;
                if (b >= 0xC2 && b <= 0xDF) {
                    more = 1;
                } else if (b >= 0xE0 && b <= 0xEF) {
                    more = 2;
                    low = b == 0xE0 ? 0xA0 : 0x80;
                    high = b == 0xED ? 0x9F : 0xBF;
                } else if (b >= 0xF0 && b <= 0xF4) {
                    more = 3;
                    low = b == 0xF0 ? 0x90 : 0x80;
                    high = b == 0xF4 ? 0x8F : 0xBF;
                } else {
                    throw new CharacterCodingExceptionWrapper();
                }
                if (i + more >= to) {  // truncated sequence
                    throw new CharacterCodingExceptionWrapper();
                }
                int next = data[i + 1] & 0xFF;
                if (next < low || next > high) {
                    throw new CharacterCodingExceptionWrapper();
                }
                for (int k = 2; k <= more; k++) {
                    int c = data[i + k] & 0xFF;
                    if (c < 0x80 || c > 0xBF) {
                        throw new CharacterCodingExceptionWrapper();
                    }
                }
                i += more + 1;
            }
        }

        double doubleValue() {
            if (buffer.length - position < 8) {
                throw new IndexOutOfBoundsException("truncated");
            }
            double value = ByteBuffer.wrap(buffer, position, 8).order(ByteOrder.LITTLE_ENDIAN).getDouble();
            position += 8;
            return value;
        }

        /** The payload as the JSON text {@code pipelines.records.payload_to_json} writes, in UTF-8. */
        Utf8 payloadJson() {
            long branch = varlong();
            // Fresh a record, as the table string made of it keeps it; room for the text the Avro usually makes.
            JsonText json = new JsonText(2 * (buffer.length - position) + 16);
            if (branch == 0) {
                return json.ascii("{\"$base64\":\"").base64(bytes()).ascii("\"}").utf8();
            }
            if (branch != 1) {
                throw new BadBranch();
            }
            json.write('{');
            boolean first = true;
            while (true) {
                long count = varlong();
                if (count == 0) {
                    break;
                }
                if (count < 0) {
                    count = -count;
                    varlong();  // the block's size in bytes: not needed to read it
                }
                for (long i = 0; i < count; i++) {
                    if (!first) {
                        json.write(',');
                    }
                    first = false;
                    json.quoted(string()).write(':');
                    long valueBranch = varlong();
                    switch ((int) valueBranch) {
                        case 0 -> json.ascii("null");
                        case 1 -> {
                            if (position >= buffer.length) {
                                throw new IndexOutOfBoundsException("truncated");
                            }
                            json.ascii(buffer[position++] != 0 ? "true" : "false");
                        }
                        case 2 -> json.ascii(Long.toString(varlong()));
                        case 3 -> json.ascii(Json.number(doubleValue()));
                        case 4 -> json.quoted(string());
                        case 5 -> json.ascii("{\"$base64\":\"").base64(bytes()).ascii("\"}");
                        default -> throw new BadBranch();
                    }
                }
            }
            return json.write('}').utf8();
        }
    }

    /** JSON text in UTF-8, grown as needed; strings quoted as {@link Json#quote(String)} quotes them. */
    private static final class JsonText {
        private byte[] buffer;
        private int length;

        JsonText(int capacity) {
            buffer = new byte[capacity];
        }

        private void room(int needed) {
            if (needed > buffer.length - length) {
                buffer = Arrays.copyOf(buffer, Math.max(2 * buffer.length, length + needed));
            }
        }

        JsonText write(int b) {
            room(1);
            buffer[length++] = (byte) b;
            return this;
        }

        JsonText ascii(String text) {
            room(text.length());
            for (int i = 0; i < text.length(); i++) {
                buffer[length++] = (byte) text.charAt(i);
            }
            return this;
        }

        JsonText base64(byte[] data) {
            byte[] text = Base64.getEncoder().encode(data);
            room(text.length);
            System.arraycopy(text, 0, buffer, length, text.length);
            length += text.length;
            return this;
        }

        /** Python's {@code json.dumps(text, ensure_ascii=False)}: only quotes, backslashes and controls escaped. */
        JsonText quoted(Utf8 text) {
            byte[] data = text.data();
            int end = text.offset() + text.length();
            room(text.length() + 2);
            buffer[length++] = '"';
            int plain = text.offset();  // the text from here to i needs no escape: copied in one go
            for (int i = plain; i < end; i++) {
                byte b = data[i];
                if (b < 0 || (b >= 0x20 && b != '"' && b != '\\')) {
                    continue;
                }
                System.arraycopy(data, plain, buffer, length, i - plain);  // room was made for the unescaped text
                length += i - plain;
                plain = i + 1;
                String escape = Json.escape((char) b, false);  // b is a quote, a backslash or a control
                room(6 + end - i);
                for (int k = 0; k < escape.length(); k++) {
                    buffer[length++] = (byte) escape.charAt(k);
                }
            }
            System.arraycopy(data, plain, buffer, length, end - plain);
            length += end - plain;
            buffer[length++] = '"';
            return this;
        }

        Utf8 utf8() {
            return new Utf8(buffer, 0, length);
        }
    }

    /**
     * A writer a thread, reused from record to record: a fresh one grew its buffers by copying several times a
     * record (ByteArrayOutputStream from 256 bytes, and two more for the payload's map), a tenth of the PII
     * job's JVM samples (JFR, {@code Arrays.copyOf} under {@code encode}).
     */
    private static final ThreadLocal<Writer> WRITERS = ThreadLocal.withInitial(Writer::new);

    /** A payload's Avro bytes as the codec writes them, or ({@code parsedOnly}) as Jackson's path alone: a test. */
    static byte[] payloadBytes(byte[] json, boolean parsedOnly) throws EnvelopeException {
        Writer out = new Writer();
        if (parsedOnly) {
            out.payloadParsed(json);
        } else {
            out.payload(json);
        }
        return out.bytes();
    }

    /** Avro binary into a growable buffer; unsynchronized, unlike ByteArrayOutputStream, as it is per thread. */
    static final class Writer implements FlatJsonScan.EntryWriter {
        private static final int INITIAL = 1024;
        private static final int KEPT = 64 * 1024;  // a buffer grown past this by a rare large record is dropped
        private byte[] buffer = new byte[INITIAL];
        private int length;
        private Writer entries;  // flatMap's: a payload's map entries, written before their count is known
        private final FlatJsonScan scan = new FlatJsonScan();  // scanned's, reused payload after payload
        private Set<String> keys = new HashSet<>();  // flatMap's: a payload's keys so far (cleared, not remade)

        Writer reset() {
            if (buffer.length > KEPT) {
                buffer = new byte[INITIAL];
            }
            length = 0;
            return this;
        }

        @Override
        public void write(int b) {
            if (length == buffer.length) {
                grow(1);
            }
            buffer[length++] = (byte) b;
        }

        void writeBytes(byte[] data, int count) {
            if (count > buffer.length - length) {
                grow(count);
            }
            System.arraycopy(data, 0, buffer, length, count);
            length += count;
        }

        private void grow(int needed) {
            buffer = Arrays.copyOf(buffer, Math.max(2 * buffer.length, length + needed));
        }

        @Override
        public void varlong(long value) {
            long raw = (value << 1) ^ (value >> 63);
            while ((raw & ~0x7FL) != 0) {
                write((int) ((raw & 0x7F) | 0x80));
                raw >>>= 7;
            }
            write((int) raw);
        }

        void bytes(byte[] data) {
            varlong(data.length);
            writeBytes(data, data.length);
        }

        @Override
        public void bytes(byte[] data, int from, int count) {
            varlong(count);
            if (count > buffer.length - length) {
                grow(count);
            }
            System.arraycopy(data, from, buffer, length, count);
            length += count;
        }

        void string(String text) {
            bytes(text.getBytes(StandardCharsets.UTF_8));
        }

        /** {@link #string} of {@code text[from, from + count)}, ASCII written as it is: no String made for it. */
        void chars(char[] text, int from, int count) {
            int end = from + count;
            for (int i = from; i < end; i++) {
                if (text[i] >= 0x80) {
                    string(new String(text, from, count));  // UTF-8 by the JDK, lone surrogates as it writes them
                    return;
                }
            }
            varlong(count);
            if (count > buffer.length - length) {
                grow(count);
            }
            for (int i = from; i < end; i++) {
                buffer[length++] = (byte) text[i];
            }
        }

        void payload(byte[] json) throws EnvelopeException {
            if (!scanned(json) && !flatMap(json)) {
                payloadGeneral(json);
            }
        }

        private void payloadGeneral(byte[] json) throws EnvelopeException {
            Object parsed;
            try {
                parsed = Json.parse(new String(json, StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                throw new EnvelopeException("payload", "is not JSON (" + e.getMessage() + ")");
            }
            if (!(parsed instanceof Map<?, ?> map)) {
                throw new EnvelopeException("payload", "must be a JSON object");
            }
            if (map.size() == 1 && map.get("$base64") instanceof String b64) {
                varlong(0);
                bytes(decodeBase64(b64, "payload"));
                return;
            }
            varlong(1);
            if (!map.isEmpty()) {
                varlong(map.size());
                Iterator<? extends Map.Entry<?, ?>> entries = map.entrySet().iterator();
                while (entries.hasNext()) {
                    Map.Entry<?, ?> entry = entries.next();
                    string((String) entry.getKey());
                    value((String) entry.getKey(), entry.getValue());
                }
            }
            varlong(0);
        }

        private void value(String key, Object value) throws EnvelopeException {
            if (value == null) {
                varlong(0);
            } else if (value instanceof Boolean b) {
                varlong(1);
                write(b ? 1 : 0);
            } else if (value instanceof Long l) {
                varlong(2);
                varlong(l);
            } else if (value instanceof Double d) {
                varlong(3);
                doubleValue(d);
            } else if (value instanceof String s) {
                varlong(4);
                string(s);
            } else if (value instanceof Map<?, ?> m && m.size() == 1 && m.get("$base64") instanceof String b64) {
                varlong(5);
                bytes(decodeBase64(b64, "payload." + key));
            } else {
                throw new EnvelopeException("payload." + key, "nested values are not supported; send the payload "
                        + "as bytes to carry nested data");
            }
        }

        @Override
        public void doubleValue(double value) {
            long bits = Double.doubleToRawLongBits(value);
            for (int i = 0; i < 8; i++) {
                write((int) (bits >>> (8 * i)) & 0xFF);  // little-endian, as Avro (and fastavro) write it
            }
        }

        /** {@link #flatMap}'s map of the payloads our jobs write, read from the bytes ({@link FlatJsonScan}). */
        private boolean scanned(byte[] json) {
            if (entries == null) {
                entries = new Writer();
            }
            Writer entries = this.entries.reset();
            int count = scan.entries(json, entries);
            return count >= 0 && map(count, entries);
        }

        /** The payload's map branch: one block of {@code count} entries (written to {@code entries}), then its end. */
        private boolean map(int count, Writer entries) {
            varlong(1);
            if (count > 0) {
                varlong(count);
                writeBytes(entries.buffer, entries.length);
            }
            varlong(0);
            return true;
        }

        /** {@link #payload} without the scan: a test holds the scan's bytes to these. */
        void payloadParsed(byte[] json) throws EnvelopeException {
            if (!flatMap(json)) {
                payloadGeneral(json);
            }
        }

        /**
         * The common payload, a JSON object of scalars with distinct keys and no {@code $base64}, as its Avro
         * map (branch, one block, end), read token by token; false, with nothing written, for anything else,
         * which the general path (parse to a Map, then write) handles with its errors.  Parsing to a Map first
         * was an eighth of the SQL path's JVM time (JFR).
         */
        private boolean flatMap(byte[] json) {
            if (entries == null) {
                entries = new Writer();
            }
            Writer entries = this.entries.reset();
            int count = 0;
            if (keys.size() > 1024) {
                keys = new HashSet<>();  // a rare payload of many keys does not keep its table
            } else {
                keys.clear();
            }
            try (JsonParser parser = Json.parser(json)) {
                if (parser.nextToken() != JsonToken.START_OBJECT) {
                    return false;
                }
                JsonToken token;
                while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
                    String key = parser.currentName();
                    if ("$base64".equals(key) || !keys.add(key)) {
                        return false;
                    }
                    entries.string(key);
                    switch (parser.nextToken()) {
                        case VALUE_NULL -> entries.varlong(0);
                        case VALUE_TRUE, VALUE_FALSE -> {
                            entries.varlong(1);
                            entries.write(parser.getBooleanValue() ? 1 : 0);
                        }
                        case VALUE_NUMBER_INT -> {
                            if (parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                                entries.varlong(3);  // past 64 bits: a double, as Json.parse reads it
                                entries.doubleValue(parser.getDoubleValue());
                            } else {
                                entries.varlong(2);
                                entries.varlong(parser.getLongValue());
                            }
                        }
                        case VALUE_NUMBER_FLOAT -> {
                            entries.varlong(3);
                            entries.doubleValue(parser.getDoubleValue());
                        }
                        case VALUE_STRING -> {
                            entries.varlong(4);
                            entries.chars(parser.getTextCharacters(), parser.getTextOffset(),
                                    parser.getTextLength());
                        }
                        default -> {
                            return false;
                        }
                    }
                    count++;
                }
                if (token != JsonToken.END_OBJECT || parser.nextToken() != null) {
                    return false;
                }
            } catch (IOException e) {
                return false;
            }
            return map(count, entries);
        }

        private static byte[] decodeBase64(String text, String field) throws EnvelopeException {
            try {
                return Base64.getDecoder().decode(text);
            } catch (IllegalArgumentException e) {
                throw new EnvelopeException(field, "'$base64' is not valid base64");
            }
        }

        byte[] bytes() {
            return Arrays.copyOf(buffer, length);
        }
    }
}
