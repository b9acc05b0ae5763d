package dev.shardline.flink.envelope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;

class EnvelopeRowConverterTest {
    private final EnvelopeRowConverter converter = new EnvelopeRowConverter();

    @Test
    void aRowBecomesItsEnvelopeUnderItsPartitionKey() throws Exception {
        String payload = "{\"aggregate_id\":\"a-1\",\"version\":7,\"data\":\"{\\\"balance\\\":\\\"1.00\\\"}\"}";
        PutRecordsRequestEntry entry = converter.apply(
                Row.of("BalanceChanged:e-7", "BalanceChanged", "shardline.eventsourcing", 1700000000000L, "a-1",
                        null, payload), null);
        assertEquals("a-1", entry.partitionKey());
        EnvelopeCodec.Envelope expected = new EnvelopeCodec.Envelope("BalanceChanged:e-7", "BalanceChanged",
                "shardline.eventsourcing", 1700000000000L, "a-1", null, payload);
        assertArrayEquals(EnvelopeCodec.encode(expected), entry.data().asByteArray());
        assertEquals(expected, EnvelopeCodec.decode(entry.data().asByteArray()));
    }

    @Test
    void aRowThatMakesNoEnvelopeFailsWithTheField() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> converter.apply(Row.of("id", "t", "s", 1L, "", null, "{}"), null));
        assertEquals(true, error.getMessage().contains("partition_key"), error.getMessage());
    }
}
