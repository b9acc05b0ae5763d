package dev.shardline.flink.envelope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import org.junit.jupiter.api.Test;

class FlatJsonScanTest {
    /** Payloads the scan reads and payloads it leaves to Jackson: the codec's bytes are Jackson's in both. */
    private static final String[] PAYLOADS = {
        "{\"aggregate_id\":\"acct-1\",\"version\":2,\"data\":\"{\\\"balance\\\":\\\"5.00\\\"}\"}",
        " {\n\t\"a\" : \"x\" , \"b\":null,\"c\":true,\"d\":false,\"e\":-12,\"f\":0,\"g\":-0 } \n", "{}", "{ }",
        "{\"s\":\"caf\u00e9 \u2615 \uD83D\uDE00\"}",
        "{\"s\":\"\\u00e9\\u2615\\uD83D\\uDE00\\/\\b\\f\\n\\r\\t\\\\\\\"\"}",
        "{\"k\u00e9y\":1}", "{\"n\":123456789012345678}", "{\"n\":1234567890123456789}", "{\"n\":99999999999999999999}",
        "{\"n\":1.5}", "{\"n\":1e3}", "{\"n\":-1.25E-2}", "{\"n\":NaN}", "{\"n\":-Infinity}",
        "{\"price\":2290.95,\"n\":1}", "{\"n\":-0.0}", "{\"n\":0.5e-3}", "{\"n\":1E+2}", "{\"n\":1e400}",
        "{\"n\":-1e400}", "{\"n\":4.9e-324}", "{\"n\":2.4e-324}", "{\"n\":123456789.123456789123456}",
        "{\"n\":0.1}", "{\"n\":9007199254740993.0}", "{\"n\":1.7976931348623157e308}",
        "{\"s\":\"\\uD800\"}", "{\"s\":\"\\uDC00\"}", "{\"s\":\"\\uD800x\"}", "{\"$base64\":\"AAE=\"}",
        "{\"a\":\"x\",\"$base64\":\"AAE=\"}", "{\"a\":1,\"a\":2}", "{\"k\\u0065y\":1,\"key\":2}",
    };
    private static final String[] REFUSED = {
        "{\"n\":01}", "{\"a\":1,}", "{\"a\":1} x", "[1]", "\"s\"", "", "{\"a\":tru}", "{\"a\":\"x\\q\"}",
        "{\"a\":\"tab\there\"}", "{\"a\" 1}", "{\"a\":-}", "{\"a\":1", "{\"a\":{\"b\":1}}", "{\"a\":[1]}",
        "{\"n\":1.}", "{\"n\":.5}", "{\"n\":1e}", "{\"n\":1.e3}", "{\"n\":01.5}", "{\"n\":-.5}", "{\"n\":1e+}",
        "{\"n\":1.5.2}", "{\"n\":+1}",
    };

    @Test
    void theScanWritesWhatJacksonsPathWrites() throws EnvelopeCodec.EnvelopeException {
        for (String payload : PAYLOADS) {
            byte[] json = payload.getBytes(StandardCharsets.UTF_8);
            assertArrayEquals(EnvelopeCodec.payloadBytes(json, true), EnvelopeCodec.payloadBytes(json, false),
                    payload);
        }
    }

    @Test
    void theScanReadsNumbersWithAFractionOrAnExponentItself() {
        // The bench's payments carry a price: each once went to Jackson after the scan had read up to it.
        EnvelopeCodec.Writer entries = new EnvelopeCodec.Writer();
        byte[] json = "{\"price\":2290.95,\"rate\":1e-3,\"n\":2}".getBytes(StandardCharsets.UTF_8);
        assertEquals(3, new FlatJsonScan().entries(json, entries));
        assertEquals(-1, new FlatJsonScan().entries("{\"n\":99999999999999999999}".getBytes(StandardCharsets.UTF_8),
                entries.reset()));  // past 18 digits: Jackson's path
    }

    @Test
    void whatJacksonsPathRefusesIsRefusedAlike() {
        for (String payload : REFUSED) {
            byte[] json = payload.getBytes(StandardCharsets.UTF_8);
            EnvelopeCodec.EnvelopeException parsed = assertThrows(EnvelopeCodec.EnvelopeException.class,
                    () -> EnvelopeCodec.payloadBytes(json, true), payload);
            EnvelopeCodec.EnvelopeException codec = assertThrows(EnvelopeCodec.EnvelopeException.class,
                    () -> EnvelopeCodec.payloadBytes(json, false), payload);
            assertEquals(parsed.getMessage(), codec.getMessage(), payload);
        }
    }

    @Test
    void oneThreadsScannerGivesEachPayloadItsOwnBytes() throws EnvelopeCodec.EnvelopeException {
        // The codec's writer, and its scanner, serve a thread's records one after another: each envelope ends
        // with its payload as a fresh writer on Jackson's path writes it, whatever came before.
        for (int round = 0; round < 2; round++) {
            for (String payload : PAYLOADS) {
                byte[] json = payload.getBytes(StandardCharsets.UTF_8);
                byte[] encoded = EnvelopeCodec.encodeUtf8(ID, ID, ID, 1L, ID, null, json);
                byte[] expected = EnvelopeCodec.payloadBytes(json, true);
                assertArrayEquals(expected, Arrays.copyOfRange(encoded, encoded.length - expected.length,
                        encoded.length), payload);
            }
        }
    }

    private static final byte[] ID = {'i', 'd'};
}
