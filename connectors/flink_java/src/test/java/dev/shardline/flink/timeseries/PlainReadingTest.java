package dev.shardline.flink.timeseries;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

import java.util.Map;

class PlainReadingTest {
    private static final long NOW = 1_767_225_600_000L;
    private static final Map<String, double[]> RANGES = PlainReading.parseRanges("{\"humidity\": [0, 100]}");

    private static Row read(String json) {
        return PlainReading.read(json, 86_400_000L, RANGES, NOW);
    }

    @Test
    void aPlainReadingIsReadAsPythonReadsIt() {
        Row row = read("{\"device_id\":\"d-1\",\"metric\":\"humidity\",\"value\":49.5053,\"event_time\":1767225599764,"
                + "\"extra\":{\"nested\":[1,2]}}");
        assertEquals(Row.of(true, "d-1", "humidity", 49.5053, 1_767_225_599_764L), row);
        assertEquals(Row.of(true, "d", "t", 12.0, 0L), read("{\"device_id\":\"d\",\"metric\":\"t\",\"value\":12,\"event_time\":0}"));
    }

    @Test
    void anythingPythonMightReadOtherwiseIsLeftToPython() {
        String[] notPlain = {
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":1,\"event_time\":\"2026-01-01T00:00:00Z\"}",  // ISO time
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":1,\"event_time\":1.0}",        // a float time
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":1,\"event_time\":1,\"attributes\":{}}",
            "{\"device_id\":\"d/x\",\"metric\":\"t\",\"value\":1,\"event_time\":1}",       // "/" in the id
            "{\"device_id\":\"\",\"metric\":\"t\",\"value\":1,\"event_time\":1}",
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":true,\"event_time\":1}",
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":\"1\",\"event_time\":1}",
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":1e400,\"event_time\":1}",     // infinite
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":NaN,\"event_time\":1}",
            "{\"device_id\":\"d\",\"metric\":\"humidity\",\"value\":100.5,\"event_time\":1}",  // out of range
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":1,\"event_time\":-1}",
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":1,\"event_time\":" + (NOW + 86_400_001L) + "}",
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":1,\"event_time\":1,\"device_id\":\"e\"}",  // twice
            "{\"device_id\":\"\\ud800\",\"metric\":\"t\",\"value\":1,\"event_time\":1}",   // a lone surrogate
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":1,\"event_time\":1} {}",     // text after it
            "{\"device_id\":\"d\",\"metric\":\"t\",\"value\":1}",
            "[1]", "not json",
        };
        for (String json : notPlain) {
            assertFalse(read(json).<Boolean>getFieldAs(0), json);
        }
    }

    @Test
    void badRangesFailAtTheFirstRecord() {
        assertThrows(IllegalArgumentException.class, () -> PlainReading.parseRanges("{\"t\": 5}"));
    }
}
