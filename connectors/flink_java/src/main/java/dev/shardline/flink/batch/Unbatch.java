package dev.shardline.flink.batch;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

/**
 * A stream of arrays back to a stream of their elements, in order: what a Python function sent as one element
 * per batch (one crossing from Python for many rows) reaches its Java sink row by row.
 */
public final class Unbatch implements FlatMapFunction<Object[], Object> {
    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(Object[] batch, Collector<Object> out) {
        if (batch == null) {
            return;
        }
        for (Object element : batch) {
            if (element != null) {
                out.collect(element);
            }
        }
    }
}
