package dev.shardline.flink.firehose;

import org.apache.flink.types.Row;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class OpenSearchBulkTest {
    private final OpenSearchBulk bulk = new OpenSearchBulk();

    @Test
    void theEntryIsByteForByteWhatPythonsOpensearchBulkWrites() {
        // Python: opensearch_bulk("paymënts")(Record(id='p-1 "q" é\x01', type="payment.created", source="src\\x",
        //   partition_key="acct\t7", payload={"note": "Zoë \x1f\n", "n": 3}, event_time=1700000000000))
        String expected = "{\"index\":{\"_index\":\"paym\\u00ebnts\",\"_id\":\"p-1 \\\"q\\\" é\\u0001\"}}\n"
                + "{\"id\":\"p-1 \\\"q\\\" é\\u0001\",\"type\":\"payment.created\",\"source\":\"src\\\\x\","
                + "\"event_time\":1700000000000,\"partition_key\":\"acct\\t7\",\"schema\":null,"
                + "\"payload\":{\"note\":\"Zoë \\u001f\\n\",\"n\":3}}\n";
        Row row = bulk.row("paymënts", "p-1 \"q\" é\u0001", "payment.created", "src\\x", 1_700_000_000_000L,
                "acct\t7", null, "{\"note\":\"Zoë \\u001f\\n\",\"n\":3}");
        assertEquals(expected, new String((byte[]) row.getField(0), StandardCharsets.UTF_8));
        assertNull(row.getField(1));
    }

    @Test
    void anIdOverOpenSearchsLimitGivesTheReasonThePythonWriterGives() {
        Row row = bulk.row("i", "x".repeat(513), "t", "s", 1L, "k", "v1", "{}");
        assertNull(row.getField(0));
        assertEquals("SerializationException", row.getField(1));
        assertEquals("firehose cannot encode the record: record id is longer than OpenSearch's 512-byte _id limit",
                row.getField(2));
    }

    @Test
    void anEntryOverFirehosesRecordLimitIsRefusedWithItsSize() {
        // Python writes 1024141 bytes for this record too.
        String payload = "{\"blob\":\"" + "a".repeat(1_024_000) + "\"}";
        Row row = bulk.row("i", "r", "t", "s", 1L, "k", null, payload);
        assertNull(row.getField(0));
        assertEquals("RecordTooLarge", row.getField(1));
        assertEquals("bulk entry of 1024141 bytes is over Firehose's 1024000", row.getField(2));
    }
}
