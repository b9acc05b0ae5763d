package dev.shardline.flink.envelope;

import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code kinesis_letter_fits(reason, error_type, source, data) -> BOOLEAN}: whether a dead letter, as the
 * {@code json} format writes it (its data base64), surely fits one Kinesis record with its partition key.
 *
 * <p>A record read from a stream holds up to 1 MiB, and its letter a third more: a job routes the letters
 * that may not fit to S3 rather than hand them to the Kinesis sink, which fails the job on a record over the
 * limit (and the restored job fails on it again).  An upper bound, not the exact size: a letter near the
 * limit goes to S3 even if it would have fit, which loses nothing.
 */
public final class KinesisLetterFit extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    /** Room for the field names, attempts, time and a partition key (at most 256 characters). */
    static final int OVERHEAD = 1024 + 3 * 256;

    public boolean eval(String reason, String errorType, String source, byte[] data) {
        return bound(reason, errorType, source, data) <= KinesisRecordFit.MAX_RECORD_BYTES;
    }

    /** JSON escapes a UTF-16 unit into 6 bytes at most ({@code \u0001}); base64 is 4 bytes for each 3. */
    static long bound(String reason, String errorType, String source, byte[] data) {
        long bound = OVERHEAD;
        for (String text : new String[] {reason, errorType, source}) {
            bound += text == null ? 4 : 6L * text.length();
        }
        return bound + (data == null ? 4 : 4L * ((data.length + 2) / 3));
    }
}
