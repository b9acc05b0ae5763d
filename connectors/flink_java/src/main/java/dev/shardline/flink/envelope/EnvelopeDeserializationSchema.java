package dev.shardline.flink.envelope;

import dev.shardline.flink.table.TableStrings;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;

/** Avro envelope bytes to a row of the declared columns; an invalid record becomes a row with {@code error} set. */
final class EnvelopeDeserializationSchema implements DeserializationSchema<RowData> {
    private static final long serialVersionUID = 1L;

    private final String[] columns;
    private final TypeInformation<RowData> producedType;

    EnvelopeDeserializationSchema(String[] columns, TypeInformation<RowData> producedType) {
        this.columns = columns;
        this.producedType = producedType;
    }

    @Override
    public RowData deserialize(byte[] message) {
        GenericRowData row = new GenericRowData(columns.length);
        EnvelopeCodec.Utf8Envelope envelope;
        try {
            envelope = EnvelopeCodec.decodeUtf8(message);
        } catch (EnvelopeCodec.EnvelopeException e) {
            for (int i = 0; i < columns.length; i++) {
                if ("error".equals(columns[i])) {
                    row.setField(i, TableStrings.of(e.getMessage()));
                } else if ("raw".equals(columns[i])) {
                    row.setField(i, message);
                }
            }
            return row;
        }
        for (int i = 0; i < columns.length; i++) {
            row.setField(i, switch (columns[i]) {
                case "id" -> string(envelope.id());
                case "type" -> string(envelope.type());
                case "source" -> string(envelope.source());
                case "event_time" -> envelope.eventTime();
                case "partition_key" -> string(envelope.partitionKey());
                case "schema" -> string(envelope.schema());
                case "payload" -> string(envelope.payloadJson());
                case "raw" -> message;
                default -> null;  // error: none
            });
        }
        return row;
    }

    /** The bytes as they are (checked UTF-8): a table string is UTF-8. */
    private static StringData string(EnvelopeCodec.Utf8 text) {
        return text == null ? null : StringData.fromBytes(text.data(), text.offset(), text.length());
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
