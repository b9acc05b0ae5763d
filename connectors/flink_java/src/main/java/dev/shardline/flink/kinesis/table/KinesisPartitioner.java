package dev.shardline.flink.kinesis.table;

import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

import java.io.Serializable;
import java.util.List;
import java.util.UUID;

/** The partition key of each row written: its PARTITIONED BY columns joined, the writer's subtask, or random. */
abstract class KinesisPartitioner implements Serializable {
    private static final long serialVersionUID = 1L;

    abstract String key(RowData row, int subtask);

    static KinesisPartitioner of(String mode, List<String> columns, String delimiter, DataType physical) {
        if (!columns.isEmpty()) {
            RowType type = (RowType) physical.getLogicalType();
            RowData.FieldGetter[] getters = columns.stream()
                    .map(name -> RowData.createFieldGetter(type.getTypeAt(type.getFieldIndex(name)), type.getFieldIndex(name)))
                    .toArray(RowData.FieldGetter[]::new);
            return new Columns(getters, delimiter);
        }
        return "fixed".equals(mode) ? new Fixed() : new Random();
    }

    private static final class Columns extends KinesisPartitioner {
        private static final long serialVersionUID = 1L;
        private final RowData.FieldGetter[] getters;
        private final String delimiter;

        Columns(RowData.FieldGetter[] getters, String delimiter) {
            this.getters = getters;
            this.delimiter = delimiter;
        }

        @Override
        String key(RowData row, int subtask) {
            StringBuilder key = new StringBuilder();
            for (int i = 0; i < getters.length; i++) {
                if (i > 0) {
                    key.append(delimiter);
                }
                key.append(getters[i].getFieldOrNull(row));
            }
            // Kinesis refuses an empty key: a row whose key columns are all empty still goes somewhere.
            return key.length() == 0 ? "-" : key.toString();
        }
    }

    private static final class Fixed extends KinesisPartitioner {
        private static final long serialVersionUID = 1L;

        @Override
        String key(RowData row, int subtask) {
            return Integer.toString(subtask);
        }
    }

    private static final class Random extends KinesisPartitioner {
        private static final long serialVersionUID = 1L;

        @Override
        String key(RowData row, int subtask) {
            return UUID.randomUUID().toString();
        }
    }
}
