package dev.shardline.flink.envelope;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class KinesisLetterFitTest {
    private final KinesisLetterFit fit = new KinesisLetterFit();

    @Test
    void aSmallLetterFits() {
        assertTrue(fit.eval("field '<record>': not a shardline Avro envelope", "RecordValidationError",
                "kinesis:in/shardId-000000000000/49", new byte[100]));
    }

    @Test
    void theLetterOfARecordNearTheLimitDoesNot() {
        // 800 KB of data is 1,066,668 bytes of base64: over 1 MiB before any field.
        assertFalse(fit.eval("too large", "RecordTooLarge", "kinesis:in/shardId-000000000000/49",
                new byte[800 * 1000]));
    }

    @Test
    void theBoundHoldsForTheLargestDataThatFits() {
        int limit = KinesisRecordFit.MAX_RECORD_BYTES;
        int data = (limit - KinesisLetterFit.OVERHEAD - 6 * 40) / 4 * 3;
        assertTrue(fit.eval("r".repeat(10), "e".repeat(10), "s".repeat(20), new byte[data]));
        assertFalse(fit.eval("r".repeat(10), "e".repeat(10), "s".repeat(20), new byte[data + 3]));
        assertTrue(fit.eval(null, null, null, null));
    }
}
