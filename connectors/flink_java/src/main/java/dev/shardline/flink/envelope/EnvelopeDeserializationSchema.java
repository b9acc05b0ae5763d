package dev.shardline.flink.envelope;

import dev.shardline.flink.table.TableStrings;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;

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
        EnvelopeCodec.Envelope envelope;
        try {
            envelope = EnvelopeCodec.decode(message);
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
                case "id" -> TableStrings.of(envelope.id());
                case "type" -> TableStrings.of(envelope.type());
                case "source" -> TableStrings.of(envelope.source());
                case "event_time" -> envelope.eventTime();
                case "partition_key" -> TableStrings.of(envelope.partitionKey());
                case "schema" -> TableStrings.of(envelope.schema());
                case "payload" -> TableStrings.of(envelope.payloadJson());
                case "raw" -> message;
                default -> null;  // error: none
            });
        }
        return row;
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
