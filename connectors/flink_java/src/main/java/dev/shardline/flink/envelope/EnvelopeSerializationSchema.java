package dev.shardline.flink.envelope;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.table.data.RowData;

import java.util.Arrays;

/**
 * A row of envelope columns to Avro envelope bytes.  A row that does not make a valid envelope (a statement
 * bug: inputs were validated when read) fails with the field and the reason.
 *
 * <p>A job that writes its records to the stream and to S3 encodes each twice, one sink after the other in
 * the same task thread (each gets its own copy of the row).  So the last envelope a thread encoded is kept
 * with its bytes, and the second sink takes them when its envelope equals it: comparing the fields costs
 * far less than parsing the payload's JSON again (JFR of the no-Python job writing both: S3's encodes, 15% of
 * the JVM's samples, went; serializing fell from 33% to 27%).  Neither sink changes the bytes it is given.
 */
final class EnvelopeSerializationSchema implements SerializationSchema<RowData> {
    private static final long serialVersionUID = 1L;
    private static final ThreadLocal<Encoded> LAST_ENCODED = ThreadLocal.withInitial(Encoded::new);

    /** An envelope's fields (copies: a row's strings may be in a buffer its source fills again) and its bytes. */
    private static final class Encoded {
        byte[][] texts = new byte[6][];
        long eventTime;
        byte[] bytes;

        boolean matches(byte[][] fields, long time) {
            if (bytes == null || time != eventTime) {
                return false;
            }
            for (int i = 0; i < fields.length; i++) {  // id first: another record differs at once
                if (!Arrays.equals(fields[i], texts[i])) {
                    return false;
                }
            }
            return true;
        }

        void keep(byte[][] fields, long time, byte[] encoded) {
            for (int i = 0; i < fields.length; i++) {
                texts[i] = fields[i] == null ? null : fields[i].clone();
            }
            eventTime = time;
            bytes = encoded;
        }
    }

    private static final int ID = 0, TYPE = 1, SOURCE = 2, KEY = 3, SCHEMA = 4, PAYLOAD = 5;

    private final String[] columns;

    EnvelopeSerializationSchema(String[] columns) {
        this.columns = columns;
    }

    @Override
    public byte[] serialize(RowData row) {
        byte[][] texts = new byte[6][];  // as UTF-8, as a table string holds it: no Java string made of it
        long eventTime = 0;
        for (int i = 0; i < columns.length; i++) {
            if (row.isNullAt(i)) {
                continue;
            }
            switch (columns[i]) {
                case "id" -> texts[ID] = row.getString(i).toBytes();
                case "type" -> texts[TYPE] = row.getString(i).toBytes();
                case "source" -> texts[SOURCE] = row.getString(i).toBytes();
                case "event_time" -> eventTime = row.getLong(i);
                case "partition_key" -> texts[KEY] = row.getString(i).toBytes();
                case "schema" -> texts[SCHEMA] = row.getString(i).toBytes();
                case "payload" -> texts[PAYLOAD] = row.getString(i).toBytes();
                default -> { }
            }
        }
        Encoded last = LAST_ENCODED.get();
        if (last.matches(texts, eventTime)) {
            return last.bytes;
        }
        try {
            byte[] bytes = EnvelopeCodec.encodeUtf8(texts[ID], texts[TYPE], texts[SOURCE], eventTime, texts[KEY],
                    texts[SCHEMA], texts[PAYLOAD]);
            last.keep(texts, eventTime, bytes);
            return bytes;
        } catch (EnvelopeCodec.EnvelopeException e) {
            throw new IllegalArgumentException(EnvelopeFormatFactory.IDENTIFIER + " cannot write this row: "
                    + e.getMessage());
        }
    }
}
