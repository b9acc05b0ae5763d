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
}
