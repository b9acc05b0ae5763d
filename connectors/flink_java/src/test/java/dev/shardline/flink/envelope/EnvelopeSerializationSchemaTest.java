package dev.shardline.flink.envelope;

import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Two sinks of one record share its encoding; any other record is encoded anew. */
class EnvelopeSerializationSchemaTest {
    private static final String[] COLUMNS = {"id", "type", "source", "event_time", "partition_key", "schema", "payload"};

    private static GenericRowData row(String id, String payload) {
        // New strings each time: sinks get copies of a row, never the same objects.
        return GenericRowData.of(StringData.fromString(new String(id)), StringData.fromString("t"),
                StringData.fromString("s"), 7L, StringData.fromString("k"), null, StringData.fromString(payload));
    }

    private static byte[] encoded(String id, long eventTime, String payload) throws Exception {
        return EnvelopeCodec.encode(new EnvelopeCodec.Envelope(id, "t", "s", eventTime, "k", null, payload));
    }

    @Test
    void theSecondSinkOfARecordTakesTheFirstOnesBytes() throws Exception {
        EnvelopeSerializationSchema stream = new EnvelopeSerializationSchema(COLUMNS);
        EnvelopeSerializationSchema s3 = new EnvelopeSerializationSchema(COLUMNS);
        byte[] first = stream.serialize(row("r1", "{\"a\":1}"));
        assertArrayEquals(encoded("r1", 7L, "{\"a\":1}"), first);
        assertSame(first, s3.serialize(row("r1", "{\"a\":1}")));
    }

    @Test
    void aRecordThatDiffersInAnyColumnIsEncodedAnew() throws Exception {
        EnvelopeSerializationSchema schema = new EnvelopeSerializationSchema(COLUMNS);
        byte[] first = schema.serialize(row("r1", "{\"a\":1}"));
        byte[] otherPayload = schema.serialize(row("r1", "{\"a\":2}"));
        assertNotSame(first, otherPayload);
        assertArrayEquals(encoded("r1", 7L, "{\"a\":2}"), otherPayload);
        assertArrayEquals(encoded("r2", 7L, "{\"a\":2}"), schema.serialize(row("r2", "{\"a\":2}")));
        GenericRowData later = row("r2", "{\"a\":2}");
        later.setField(3, 8L);
        assertArrayEquals(encoded("r2", 8L, "{\"a\":2}"), schema.serialize(later));
    }

    @Test
    void anotherThreadEncodesItsOwn() throws Exception {
        EnvelopeSerializationSchema schema = new EnvelopeSerializationSchema(COLUMNS);
        byte[] here = schema.serialize(row("r1", "{\"a\":1}"));
        byte[][] there = new byte[1][];
        Thread thread = new Thread(() -> there[0] = schema.serialize(row("r1", "{\"a\":1}")));
        thread.start();
        thread.join();
        assertNotSame(here, there[0]);
        assertArrayEquals(here, there[0]);
    }

    @Test
    void aRowsStringsAreReadAsTheirUtf8() throws Exception {
        EnvelopeSerializationSchema schema = new EnvelopeSerializationSchema(COLUMNS);
        String payload = "{\"name\":\"Zoë \\\"Ł\\\" \u2615\\n\\u0001\",\"n\":-3,\"f\":2.5,\"emoji\":\"\uD83D\uDE00\"}";
        assertArrayEquals(encoded("r-é", 7L, payload), schema.serialize(row("r-é", payload)));
    }

    @Test
    void aKeptRecordIsACopyNotTheRowsBuffer() throws Exception {
        // A source may fill the same buffer again with the next record: the kept fields must not change with it.
        EnvelopeSerializationSchema schema = new EnvelopeSerializationSchema(COLUMNS);
        byte[] id = "r1".getBytes(StandardCharsets.UTF_8);
        GenericRowData first = row("x", "{}");
        first.setField(0, StringData.fromBytes(id));
        assertArrayEquals(encoded("r1", 7L, "{}"), schema.serialize(first));
        id[1] = '2';
        assertArrayEquals(encoded("r2", 7L, "{}"), schema.serialize(first));
    }

    @Test
    void aRowThatIsNotUtf8FailsNamingTheField() {
        EnvelopeSerializationSchema schema = new EnvelopeSerializationSchema(COLUMNS);
        GenericRowData row = row("r1", "{}");
        row.setField(6, StringData.fromBytes(new byte[] {'"', (byte) 0xC3, '"'}));
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> schema.serialize(row));
        assertEquals("shardline-envelope cannot write this row: field 'payload': is not valid UTF-8",
                refused.getMessage());
    }
}
