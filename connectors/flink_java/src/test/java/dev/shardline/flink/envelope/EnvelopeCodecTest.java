package dev.shardline.flink.envelope;

import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Shared vectors (written by pipelines.records.to_avro, kept in step by a Python test): same bytes both ways. */
class EnvelopeCodecTest {

    @SuppressWarnings("unchecked")
    private static Map<String, Object> vectors() throws Exception {
        try (InputStream in = EnvelopeCodecTest.class.getResourceAsStream("/envelope_vectors.json")) {
            return (Map<String, Object>) Json.parse(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void pythonsEnvelopesDecodeAndEncodeBackToTheSameBytes() throws Exception {
        for (Object item : (List<Object>) vectors().get("valid")) {
            Map<String, Object> v = (Map<String, Object>) item;
            byte[] avro = Base64.getDecoder().decode((String) v.get("avro"));
            EnvelopeCodec.Envelope envelope = EnvelopeCodec.decode(avro);
            assertEquals(v.get("id"), envelope.id());
            assertEquals(v.get("type"), envelope.type());
            assertEquals(v.get("source"), envelope.source());
            assertEquals(((Number) v.get("event_time")).longValue(), envelope.eventTime());
            assertEquals(v.get("partition_key"), envelope.partitionKey());
            assertEquals(v.get("schema"), envelope.schema());
            assertEquals(v.get("payload"), Json.parse(envelope.payloadJson()), "payload as JSON");
            if (v.containsKey("payload_json")) {  // the text Python's payload_to_json writes, byte for byte
                assertEquals(v.get("payload_json"), envelope.payloadJson());
            }
            assertArrayEquals(avro, EnvelopeCodec.encode(envelope), "re-encoded byte for byte");
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void invalidRecordsAreRefusedWithTheReasonEveryEngineGives() throws Exception {
        for (Object item : (List<Object>) vectors().get("invalid")) {
            Map<String, Object> v = (Map<String, Object>) item;
            byte[] avro = Base64.getDecoder().decode((String) v.get("avro"));
            EnvelopeCodec.EnvelopeException refused =
                    assertThrows(EnvelopeCodec.EnvelopeException.class, () -> EnvelopeCodec.decode(avro));
            assertEquals(v.get("reason"), refused.getMessage());
        }
    }

    @Test
    void aPayloadThatCannotBeAnEnvelopesIsRefusedNamingTheField() {
        var nested = new EnvelopeCodec.Envelope("i", "t", "s", 1, "k", null, "{\"a\": {\"b\": 1}}");
        EnvelopeCodec.EnvelopeException refused =
                assertThrows(EnvelopeCodec.EnvelopeException.class, () -> EnvelopeCodec.encode(nested));
        assertEquals("field 'payload.a': nested values are not supported; send the payload as bytes to carry "
                + "nested data", refused.getMessage());
    }

    @Test
    @SuppressWarnings("unchecked")
    void aThreadsWriterIsReusedCleanlyAfterALargeRecordAndARefusedOne() throws Exception {
        List<Object> valid = (List<Object>) vectors().get("valid");
        for (int round = 0; round < 2; round++) {
            String large = "{\"note\": " + Json.quote("x".repeat(200_000)) + ", \"n\": 1}";
            var big = new EnvelopeCodec.Envelope("i", "t", "s", 1, "k", null, large);
            assertEquals(Json.parse(large), Json.parse(EnvelopeCodec.decode(EnvelopeCodec.encode(big)).payloadJson()));
            // Refused after the flat path wrote an entry, then by the general path after it wrote one too.
            var nested = new EnvelopeCodec.Envelope("i", "t", "s", 1, "k", null, "{\"a\": 1, \"b\": {\"c\": 1}}");
            assertThrows(EnvelopeCodec.EnvelopeException.class, () -> EnvelopeCodec.encode(nested));
            for (Object item : valid) {
                Map<String, Object> v = (Map<String, Object>) item;
                byte[] avro = Base64.getDecoder().decode((String) v.get("avro"));
                assertArrayEquals(avro, EnvelopeCodec.encode(EnvelopeCodec.decode(avro)), "round " + round);
            }
        }
    }

    @Test
    void aFlatPayloadsTextIsWrittenAsPythonWritesIt() throws Exception {
        // pipelines.records.to_avro of this record: ASCII written from the parser's characters, the rest by the JDK.
        String payload = "{\"u\":\"caf\u00e9 \u2615 \ud83d\ude00\",\"e\":\"a\\\"b\\\\c\\n\\t\",\"a\":\"plain\"}";
        var envelope = new EnvelopeCodec.Envelope("i", "t", "s", 1, "k", null, payload);
        assertArrayEquals(Base64.getDecoder().decode("AmkCdAJzAgJrAAIGAnUIHGNhZsOpIOKYlSDwn5iAAmUIDmEiYlxjCgkCYQgKcGxhaW4A"),
                EnvelopeCodec.encode(envelope));
    }
}
