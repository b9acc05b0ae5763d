package dev.shardline.flink.envelope;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.apache.flink.table.data.StringData;
import org.junit.jupiter.api.Test;

class PayloadFieldTest {
    /** The function as SQL calls it, with the payload as a table string. */
    private static final class Field {
        private final PayloadField function = new PayloadField();

        String eval(String payload, String name) {
            return function.eval(payload == null ? null : StringData.fromString(payload), name);
        }
    }

    private final Field field = new Field();

    @Test
    void aTopLevelStringFieldIsItsText() {
        String payload = "{\"version\":3,\"data\":\"{\\\"aggregate_id\\\":\\\"inner\\\"}\",\"nested\":{\"aggregate_id\":"
                + "\"deeper\"},\"list\":[1,{\"a\":2}],\"aggregate_id\":\"acct-\\u00e9-1\"}";
        assertEquals("acct-\u00e9-1", field.eval(payload, "aggregate_id"));
        assertEquals("{\"aggregate_id\":\"inner\"}", field.eval(payload, "data"));
        assertEquals("Zoë ☕ \uD83D\uDE00", field.eval("{\"owner\":\"Zoë ☕ \uD83D\uDE00\"}", "owner"));
    }

    @Test
    void anythingElseIsNull() {
        assertNull(field.eval("{\"aggregate_id\":7}", "aggregate_id"));
        assertNull(field.eval("{\"aggregate_id\":null}", "aggregate_id"));
        assertNull(field.eval("{\"other\":\"x\"}", "aggregate_id"));
        assertNull(field.eval("[\"aggregate_id\"]", "aggregate_id"));
        assertNull(field.eval("{\"aggregate_id\":", "aggregate_id"));
        assertNull(field.eval(null, "aggregate_id"));
    }

    @Test
    void theBytesScanAnswersAsTheParserDoes() {
        String[] payloads = {
            "{\"aggregate_id\":\"acct-1\",\"version\":2}", " {\n\t\"aggregate_id\" : \"acct-1\" } ",
            "{\"version\":2,\"n\":-0.5e+3,\"ok\":true,\"x\":null,\"f\":false,\"aggregate_id\":\"a\"}",
            "{\"aggregate_id\":\"a\\\"b\"}", "{\"aggregate_id\":\"caf\u00e9\"}", "{\"aggregate_id\":\"\\u0041\"}",
            "{\"aggregate_id\":7}", "{\"aggregate_id\":null}", "{\"aggregate_id\":{\"a\":\"b\"}}",
            "{\"a\":{\"aggregate_id\":\"inner\"},\"aggregate_id\":\"outer\"}", "{\"a\":[1,2],\"aggregate_id\":\"x\"}",
            "{\"a\":\"q\\\"\",\"aggregate_id\":\"x\"}", "{\"a\":NaN,\"aggregate_id\":\"x\"}",
            "{\"a\":01,\"aggregate_id\":\"x\"}", "{\"a\":+1,\"aggregate_id\":\"x\"}",
            "{\"a\":1.,\"aggregate_id\":\"x\"}",
            "{\"a\":tru,\"aggregate_id\":\"x\"}", "{\"a\":truex,\"aggregate_id\":\"x\"}",
            "{\"a\":1 \"aggregate_id\":\"x\"}",
            "{\"aggregate_id\":\"x\",\"aggregate_id\":\"y\"}", "{\"other\":\"x\"}", "{}", "[]", "", "  ", "\"s\"",
            "{\"aggregate_id\":\"x\"", "{\"aggregate_id\":", "{\"aggregate_id\"", "{\"a\":1,}",
            "{\"aggregate_id\":\"tab\there\"}",
            "{\"aggregate_id\":\"\"}", "{\"k\u00e9\":1,\"aggregate_id\":\"x\"}", "{\"a\":-,\"aggregate_id\":\"x\"}",
        };
        for (String payload : payloads) {
            byte[] bytes = payload.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(PayloadField.parsed(bytes, "aggregate_id"), PayloadField.stringField(bytes, "aggregate_id"),
                    payload);
        }
        byte[] second = "{\"version\":2,\"aggregate_id\":\"a\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        assertEquals("a", PayloadField.stringField(second, "aggregate_id"));
    }
}
