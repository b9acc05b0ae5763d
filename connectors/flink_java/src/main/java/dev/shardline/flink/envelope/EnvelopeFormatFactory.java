package dev.shardline.flink.envelope;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.SerializationFormatFactory;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code 'format' = 'shardline-envelope'}: shardline's Avro envelope as table columns.
 *
 * <p>Columns are matched by name and any subset may be declared: {@code id}, {@code type}, {@code source},
 * {@code partition_key}, {@code schema}, {@code payload} (STRING: the payload as JSON text, bytes as
 * {@code {"$base64": ...}}), {@code event_time} (BIGINT, epoch ms).  Reading also needs {@code error}
 * (STRING) and may take {@code raw} (BYTES): a record that is not a valid envelope does not fail the job,
 * it arrives with {@code error} set (the reason, in the words every engine uses) and the other columns
 * null, so a statement routes it to the dead letters.  ({@code raw} and {@code schema} are SQL keywords:
 * write them in backquotes.)
 */
public final class EnvelopeFormatFactory implements DeserializationFormatFactory, SerializationFormatFactory {
    public static final String IDENTIFIER = "shardline-envelope";

    static final Map<String, LogicalTypeFamily> STRING_COLUMNS = Map.of(
            "id", LogicalTypeFamily.CHARACTER_STRING, "type", LogicalTypeFamily.CHARACTER_STRING,
            "source", LogicalTypeFamily.CHARACTER_STRING, "partition_key", LogicalTypeFamily.CHARACTER_STRING,
            "schema", LogicalTypeFamily.CHARACTER_STRING, "payload", LogicalTypeFamily.CHARACTER_STRING,
            "error", LogicalTypeFamily.CHARACTER_STRING);

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of();
    }

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(DynamicTableFactory.Context context,
                                                                               ReadableConfig formatOptions) {
        return new DecodingFormat<>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(DynamicTableSource.Context ctx, DataType type) {
                List<String> columns = columns(type, true);
                TypeInformation<RowData> produced = ctx.createTypeInformation(type);
                return new EnvelopeDeserializationSchema(columns.toArray(String[]::new), produced);
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    @Override
    public EncodingFormat<SerializationSchema<RowData>> createEncodingFormat(DynamicTableFactory.Context context,
                                                                             ReadableConfig formatOptions) {
        return new EncodingFormat<>() {
            @Override
            public SerializationSchema<RowData> createRuntimeEncoder(DynamicTableSink.Context ctx, DataType type) {
                return new EnvelopeSerializationSchema(columns(type, false).toArray(String[]::new));
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    /** The declared columns, each checked against the envelope's fields and types. */
    static List<String> columns(DataType type, boolean reading) {
        RowType row = (RowType) type.getLogicalType();
        List<String> names = row.getFieldNames();
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            var logical = row.getTypeAt(i);
            boolean ok;
            if (STRING_COLUMNS.containsKey(name)) {
                ok = logical.is(LogicalTypeFamily.CHARACTER_STRING);
            } else if ("event_time".equals(name)) {
                ok = logical.is(LogicalTypeRoot.BIGINT);
            } else if ("raw".equals(name) && reading) {
                ok = logical.is(LogicalTypeFamily.BINARY_STRING);
            } else {
                throw new ValidationException(IDENTIFIER + ": column '" + name + "' is not an envelope field; the "
                        + "envelope has id, type, source, event_time, partition_key, schema, payload"
                        + (reading ? ", and error and raw for records that are not valid envelopes" : ""));
            }
            if (!ok) {
                throw new ValidationException(IDENTIFIER + ": column '" + name + "' must be "
                        + ("event_time".equals(name) ? "BIGINT" : "raw".equals(name) ? "BYTES" : "STRING"));
            }
        }
        if (reading && !names.contains("error")) {
            throw new ValidationException(IDENTIFIER + ": a table that reads envelopes needs an 'error STRING' "
                    + "column: a record that is not a valid envelope arrives with it set, for the dead letters");
        }
        return names;
    }
}
