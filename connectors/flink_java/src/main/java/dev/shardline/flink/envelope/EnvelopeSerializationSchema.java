package dev.shardline.flink.envelope;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.table.data.RowData;

/**
 * A row of envelope columns to Avro envelope bytes.  A row that does not make a valid envelope (a statement
 * bug: inputs were validated when read) fails with the field and the reason.
 */
final class EnvelopeSerializationSchema implements SerializationSchema<RowData> {
    private static final long serialVersionUID = 1L;

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
        try {
            return EnvelopeCodec.encode(new EnvelopeCodec.Envelope(id, type, source, eventTime, key, schema, payload));
        } catch (EnvelopeCodec.EnvelopeException e) {
            throw new IllegalArgumentException(EnvelopeFormatFactory.IDENTIFIER + " cannot write this row: "
                    + e.getMessage());
        }
    }
}
