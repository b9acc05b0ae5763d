package dev.shardline.flink.table;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.table.data.RowData;

/** What every sink table of ours does with its format's encoder. */
public final class TableEncoders {
    private TableEncoders() {}

    /** Opens {@code encoder} for a sink writer; a failure fails the writer, saying it was the format's. */
    public static void open(SerializationSchema<RowData> encoder, WriterInitContext context) {
        try {
            encoder.open(context.asSerializationSchemaInitializationContext());
        } catch (Exception e) {
            throw new IllegalStateException("the table's format could not open its encoder: " + e.getMessage(), e);
        }
    }
}
