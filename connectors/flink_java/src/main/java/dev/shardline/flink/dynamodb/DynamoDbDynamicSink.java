package dev.shardline.flink.dynamodb;

import dev.shardline.flink.kinesis.table.AsyncSinkTableOptions;

import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.connector.sink.abilities.SupportsPartitioning;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.PutRequest;
import software.amazon.awssdk.services.dynamodb.model.WriteRequest;

import java.io.Serializable;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A table written to DynamoDB: each row is one item (a put), its columns the item's attributes. */
final class DynamoDbDynamicSink implements DynamicTableSink, SupportsPartitioning {
    private final String table;
    private final List<String> keys;
    private final Configuration config;
    private final RowType rowType;
    private final boolean ignoreNulls;
    private final AsyncSinkTableOptions.Settings settings;

    DynamoDbDynamicSink(String table, List<String> keys, Configuration config, RowType rowType, boolean ignoreNulls,
                        AsyncSinkTableOptions.Settings settings) {
        this.table = table;
        this.keys = keys;
        this.config = config;
        this.rowType = rowType;
        this.ignoreNulls = ignoreNulls;
        this.settings = settings;
        for (RowType.RowField field : rowType.getFields()) {
            attributeKind(field.getName(), field.getType());  // unsupported types fail at planning
        }
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requested) {
        return ChangelogMode.insertOnly();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        return SinkV2Provider.of(new DynamoDbSink<>(new RowToItem(rowType, ignoreNulls), table, keys, config, settings));
    }

    @Override
    public void applyStaticPartition(Map<String, String> partition) {}

    @Override
    public DynamicTableSink copy() {
        return new DynamoDbDynamicSink(table, keys, config, rowType, ignoreNulls, settings);
    }

    @Override
    public String asSummaryString() {
        return DynamoDbDynamicTableFactory.IDENTIFIER + "(" + table + ")";
    }

    /** S, N, B or BOOL for a column's type; anything else is refused, naming the column. */
    static char attributeKind(String column, LogicalType type) {
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return 'S';
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
            case FLOAT:
            case DOUBLE:
            case DECIMAL:
                return 'N';
            case BINARY:
            case VARBINARY:
                return 'B';
            case BOOLEAN:
                return 'T';
            default:
                throw new ValidationException("column " + column + ": shardline-dynamodb writes strings, numbers, "
                        + "bytes and booleans, not " + type.asSummaryString() + " (cast it, e.g. a time to BIGINT)");
        }
    }

    /** A row as a put of its columns (nulls left out with sink.ignore-nulls, NULL attributes otherwise). */
    static final class RowToItem implements ElementConverter<RowData, WriteRequest>, Serializable {
        private static final long serialVersionUID = 1L;
        private final String[] names;
        private final LogicalType[] types;
        private final char[] kinds;
        private final boolean ignoreNulls;

        RowToItem(RowType rowType, boolean ignoreNulls) {
            this.names = rowType.getFieldNames().toArray(new String[0]);
            this.types = rowType.getChildren().toArray(new LogicalType[0]);
            this.kinds = new char[names.length];
            for (int i = 0; i < names.length; i++) {
                kinds[i] = attributeKind(names[i], types[i]);
            }
            this.ignoreNulls = ignoreNulls;
        }

        @Override
        public WriteRequest apply(RowData row, SinkWriter.Context context) {
            Map<String, AttributeValue> item = new LinkedHashMap<>();
            for (int i = 0; i < names.length; i++) {
                if (row.isNullAt(i)) {
                    if (!ignoreNulls) {
                        item.put(names[i], AttributeValue.fromNul(true));
                    }
                    continue;
                }
                item.put(names[i], value(row, i));
            }
            return WriteRequest.builder().putRequest(PutRequest.builder().item(item).build()).build();
        }

        private AttributeValue value(RowData row, int i) {
            switch (kinds[i]) {
                case 'S':
                    return AttributeValue.fromS(row.getString(i).toString());
                case 'B':
                    return AttributeValue.fromB(SdkBytes.fromByteArray(row.getBinary(i)));
                case 'T':
                    return AttributeValue.fromBool(row.getBoolean(i));
                default:
                    return AttributeValue.fromN(number(row, i));
            }
        }

        private String number(RowData row, int i) {
            switch (types[i].getTypeRoot()) {
                case TINYINT:
                    return Byte.toString(row.getByte(i));
                case SMALLINT:
                    return Short.toString(row.getShort(i));
                case INTEGER:
                    return Integer.toString(row.getInt(i));
                case BIGINT:
                    return Long.toString(row.getLong(i));
                case DECIMAL:
                    var decimal = (org.apache.flink.table.types.logical.DecimalType) types[i];
                    DecimalData data = row.getDecimal(i, decimal.getPrecision(), decimal.getScale());
                    return data.toBigDecimal().toPlainString();
                default:
                    double value = types[i].getTypeRoot() == org.apache.flink.table.types.logical.LogicalTypeRoot.FLOAT
                            ? row.getFloat(i) : row.getDouble(i);
                    if (!Double.isFinite(value)) {
                        throw new IllegalArgumentException("column " + names[i] + ": DynamoDB numbers must be "
                                + "finite; NaN and infinities cannot be stored");
                    }
                    // Plain digits: the shortest decimal that reads back as this double, no exponent.
                    return new BigDecimal(Double.toString(value)).toPlainString();
            }
        }
    }
}
