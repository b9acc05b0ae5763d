package dev.shardline.flink.envelope;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class PayloadFieldTest {
    private final PayloadField field = new PayloadField();

    @Test
    void aTopLevelStringFieldIsItsText() {
        String payload = "{\"version\":3,\"data\":\"{\\\"aggregate_id\\\":\\\"inner\\\"}\",\"nested\":{\"aggregate_id\":"
                + "\"deeper\"},\"list\":[1,{\"a\":2}],\"aggregate_id\":\"acct-\\u00e9-1\"}";
        assertEquals("acct-\u00e9-1", field.eval(payload, "aggregate_id"));
        assertEquals("{\"aggregate_id\":\"inner\"}", field.eval(payload, "data"));
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
