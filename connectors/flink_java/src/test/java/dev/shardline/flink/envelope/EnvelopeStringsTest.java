package dev.shardline.flink.envelope;

import org.apache.flink.table.data.StringData;
import org.apache.flink.types.Row;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The hand-written UTF-8 check refuses what Python's strict decoder refuses; KinesisRecordFit's sizes. */
class EnvelopeStringsTest {

    /** An envelope whose id is {@code idBytes} as they are, the rest valid. */
    private static byte[] envelopeWithId(byte[] idBytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(idBytes.length * 2);  // zig-zag varint; the tests keep lengths under 64
        out.writeBytes(idBytes);
        for (String text : new String[] {"t", "s"}) {
            out.write(2);
            out.writeBytes(text.getBytes(StandardCharsets.UTF_8));
        }
        out.write(2);  // event_time 1
        out.write(2);
        out.write('k');
        out.write(0);  // schema: null
        out.write(2);  // payload: map branch
        out.write(0);  // empty map
        return out.toByteArray();
    }

    private static byte[] bytes(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }

    @Test
    void wellFormedUtf8DecodesAsItIs() throws Exception {
        for (String text : new String[] {"a-é-€-𝄞", "abcdefgh€ijklmnopq𝄞rstuvwx", "abcdefghijklmnop"}) {
            assertEquals(text, EnvelopeCodec.decode(envelopeWithId(text.getBytes(StandardCharsets.UTF_8))).id());
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void malformedUtf8IsRefusedAsPythonRefusesIt() {
        byte[][] malformed = {
            bytes(0xC0, 0x80),              // overlong NUL
            bytes(0xE0, 0x80, 0x80),        // overlong three-byte form
            bytes(0xED, 0xA0, 0x80),        // a UTF-16 surrogate
            bytes(0xF4, 0x90, 0x80, 0x80),  // past U+10FFFF
            bytes(0xF5, 0x80, 0x80, 0x80),  // no such lead byte
            bytes(0x61, 0xE2, 0x82),        // truncated at the end
            bytes(0xE2, 0x28, 0xA1),        // a bad continuation byte
            bytes(0xFF),
        };
        // Also past runs of ASCII, which the check skips eight bytes at a time, and with ASCII after.
        for (String ascii : new String[] {"", "abcdefgh", "abcdefghijklm", "abcdefghijklmnop"}) {
            for (byte[] bad : malformed) {
                byte[] prefix = ascii.getBytes(StandardCharsets.US_ASCII);
                for (byte[] id : new byte[][] {concat(prefix, bad), concat(concat(prefix, bad), prefix)}) {
                    if (bad.length == 3 && bad[0] == 0x61 && id.length > prefix.length + bad.length) {
                        continue;  // "truncated at the end" is no longer at the end
                    }
                    EnvelopeCodec.EnvelopeException refused = assertThrows(EnvelopeCodec.EnvelopeException.class,
                            () -> EnvelopeCodec.decode(envelopeWithId(id)));
                    assertEquals("field '<record>': not a shardline Avro envelope (UnicodeDecodeError)",
                            refused.getMessage());
                }
            }
        }
    }

    @Test
    void aPartitionKeyIsCountedInCharactersNotBytes() throws Exception {
        String emoji = "\uD83D\uDE00";  // four bytes of UTF-8, two UTF-16 units, one character, as Python counts
        String key = emoji.repeat(256);
        byte[] fits = EnvelopeCodec.encode(new EnvelopeCodec.Envelope("i", "t", "s", 1L, key, null, "{}"));
        assertEquals(key, EnvelopeCodec.decode(fits).partitionKey());
        EnvelopeCodec.Envelope longer = new EnvelopeCodec.Envelope("i", "t", "s", 1L, key + emoji, null, "{}");
        EnvelopeCodec.EnvelopeException refused =
                assertThrows(EnvelopeCodec.EnvelopeException.class, () -> EnvelopeCodec.encode(longer));
        assertEquals("field 'partition_key': longer than 256 characters", refused.getMessage());
        // The same record with the key one emoji longer, as a producer that does not validate could send it.
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] keyBytes = (key + emoji).getBytes(StandardCharsets.UTF_8);
        out.writeBytes(Arrays.copyOf(fits, 7));  // id, type and source (a length and a byte each), event_time
        long raw = (long) keyBytes.length << 1;  // zig-zag varint
        while ((raw & ~0x7FL) != 0) {
            out.write((int) ((raw & 0x7F) | 0x80));
            raw >>>= 7;
        }
        out.write((int) raw);
        out.writeBytes(keyBytes);
        out.write(0);  // schema: null
        out.write(2);  // payload: map branch
        out.write(0);  // empty map
        byte[] record = out.toByteArray();
        refused = assertThrows(EnvelopeCodec.EnvelopeException.class, () -> EnvelopeCodec.decodeUtf8(record));
        assertEquals("field 'partition_key': longer than 256 characters", refused.getMessage());
    }

    @Test
    void aPayloadWhoseJsonOutgrowsItsAvroIsWrittenWhole() throws Exception {
        String controls = "\u0001".repeat(300);  // one byte in Avro, six in JSON
        String json = "{\"c\":\"" + "\\u0001".repeat(300) + "\",\"q\":\"\\\"\\\\\"}";
        byte[] avro = EnvelopeCodec.encode(new EnvelopeCodec.Envelope("i", "t", "s", 1L, "k", null, json));
        assertEquals(json, EnvelopeCodec.decode(avro).payloadJson());
        EnvelopeCodec.Utf8 payload = EnvelopeCodec.decodeUtf8(avro).payloadJson();
        assertEquals(json, StringData.fromBytes(payload.data(), payload.offset(), payload.length()).toString());
        assertEquals(controls, ((java.util.Map<?, ?>) Json.parse(json)).get("c"));
    }

    @Test
    void aRecordUnderTheLimitFitsWithoutBeingEncoded() {
        Row fit = KinesisRecordFit.check("i", "t", "s", 1L, "k", null, "{\"a\":\"" + "x".repeat(1000) + "\"}");
        assertNull(fit.getField(0));
        assertNull(fit.getField(1));
    }

    @Test
    void aRecordOverTheLimitGivesTheRecordPathsReasonWithItsExactSize() throws Exception {
        String payload = "{\"a\":\"" + "x".repeat(1024 * 1024) + "\"}";
        Row fit = KinesisRecordFit.check("i", "t", "s", 1L, "k", null, payload);
        long size = EnvelopeCodec.encode(new EnvelopeCodec.Envelope("i", "t", "s", 1L, "k", null, payload)).length + 1;
        assertEquals("RecordTooLarge", fit.getField(0));
        assertEquals("an output record is " + size + " bytes (envelope and partition key); a Kinesis record holds at "
                + "most 1048576", fit.getField(1));
    }

    @Test
    void theSqlFunctionSaysNullForARecordThatFitsAndWhyNotForOneThatDoesNot() {
        KinesisRecordFit fit = new KinesisRecordFit();
        StringData small = StringData.fromString("{\"a\":\"" + "é".repeat(1000) + "\"}");
        assertNull(fit.eval(s("i"), s("t"), s("s"), 1L, s("k"), null, small));
        assertNull(fit.eval(s("i"), s("t"), s("s"), 1L, s("k"), s("v1"), null), "refused upstream: not checked");
        // Near the limit in bytes, far under it in characters: over the bound, so encoded to be sure; it fits.
        String near = "{\"a\":\"" + "é".repeat(200_000) + "\"}";
        assertNull(fit.eval(s("i"), s("t"), s("s"), 1L, s("k"), null, s(near)));
        String large = "{\"a\":\"" + "é".repeat(600_000) + "\"}";
        Row misfit = fit.eval(s("i"), s("t"), s("s"), 1L, s("k"), null, s(large));
        assertEquals(KinesisRecordFit.check("i", "t", "s", 1L, "k", null, large), misfit);
        assertEquals("RecordTooLarge", misfit.getField(0));
    }

    private static StringData s(String text) {
        return StringData.fromString(text);
    }
}
