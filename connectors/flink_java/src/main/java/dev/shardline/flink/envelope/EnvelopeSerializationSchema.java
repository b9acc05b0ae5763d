package dev.shardline.flink.envelope;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.table.data.RowData;

/**
 * A row of envelope columns to Avro envelope bytes.  A row that does not make a valid envelope (a statement
 * bug: inputs were validated when read) fails with the field and the reason.
 *
 * <p>A job that writes its records to the stream and to S3 encodes each twice, one sink after the other in
 * the same task thread (each gets its own copy of the row).  So the last envelope a thread encoded is kept
 * with its bytes, and the second sink takes them when its envelope equals it: comparing the strings costs
 * far less than parsing the payload's JSON again (JFR of the no-Python job writing both: S3's encodes, 15% of
 * the JVM's samples, went; serializing fell from 33% to 27%).  Neither sink changes the bytes it is given.
 */
final class EnvelopeSerializationSchema implements SerializationSchema<RowData> {
    private static final long serialVersionUID = 1L;
    private static final ThreadLocal<Encoded> LAST_ENCODED = ThreadLocal.withInitial(Encoded::new);

    /** An envelope and its bytes. */
    private static final class Encoded {
        EnvelopeCodec.Envelope envelope;
        byte[] bytes;
    }

    private final String[] columns;

    EnvelopeSerializationSchema(String[] columns) {
        this.columns = columns;
    }

    @Override
    public byte[] serialize(RowData row) {
        String id = null, type = null, source = null, key = null, schema = null, payload = "{}";
        long eventTime = 0;
        for (int i = 0; i < columns.length; i++) {
            if (row.isNullAt(i)) {
                continue;
            }
            switch (columns[i]) {
                case "id" -> id = row.getString(i).toString();
                case "type" -> type = row.getString(i).toString();
                case "source" -> source = row.getString(i).toString();
                case "event_time" -> eventTime = row.getLong(i);
                case "partition_key" -> key = row.getString(i).toString();
                case "schema" -> schema = row.getString(i).toString();
                case "payload" -> payload = row.getString(i).toString();
                default -> { }
            }
        }
        EnvelopeCodec.Envelope envelope = new EnvelopeCodec.Envelope(id, type, source, eventTime, key, schema, payload);
        Encoded last = LAST_ENCODED.get();
        if (envelope.equals(last.envelope)) {  // a record's fields, id first: another record differs at once
            return last.bytes;
        }
        try {
            byte[] bytes = EnvelopeCodec.encode(envelope);
            last.envelope = envelope;
            last.bytes = bytes;
            return bytes;
        } catch (EnvelopeCodec.EnvelopeException e) {
            throw new IllegalArgumentException(EnvelopeFormatFactory.IDENTIFIER + " cannot write this row: "
                    + e.getMessage());
        }
    }
}
