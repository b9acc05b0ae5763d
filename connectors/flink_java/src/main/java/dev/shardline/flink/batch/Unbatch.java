package dev.shardline.flink.batch;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * A stream of batches in columns, {@code Row(column ARRAY, ...)} with arrays of one length, back to a stream of
 * their rows, in order: row i is {@code Row(first[i], second[i], ...)}.  What a Python function sent as one
 * element a batch (one crossing from Python for many rows, and no Python {@code Row} object a row) reaches its
 * Java sink row by row.
 */
public final class Unbatch implements FlatMapFunction<Row, Row> {
    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(Row batch, Collector<Row> out) {
        if (batch == null) {
            return;
        }
        int arity = batch.getArity();
        Object[][] columns = new Object[arity][];
        int size = -1;
        for (int column = 0; column < arity; column++) {
            columns[column] = (Object[]) batch.getField(column);
            int length = columns[column] == null ? 0 : columns[column].length;
            if (size >= 0 && length != size) {
                throw new IllegalArgumentException("a batch's columns differ in length: " + size + " and " + length
                        + " (column " + column + ")");
            }
            size = length;
        }
        for (int i = 0; i < size; i++) {
            Row row = new Row(arity);
            for (int column = 0; column < arity; column++) {
                row.setField(column, columns[column][i]);
            }
            out.collect(row);
        }
    }
}
