package dev.shardline.flink.timeseries;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.types.Row;

import java.math.BigDecimal;
import java.util.Arrays;

/**
 * {@code window_stats(value DOUBLE) -> ROW(count, min, max, mean, p95)}: a window's aggregates, the numbers
 * {@code pipelines.timeseries.windows.aggregate} gives, bit for bit.
 *
 * <p>Flink's AVG adds doubles in arrival order, so its last bits depend on the order and differ from the
 * Python engines' {@code math.fsum}; here the sum is exact (BigDecimal) and rounded once, as fsum's is.  The
 * p95 is exact too: the nearest rank, {@code ceil(0.95 n)}, of the window's sorted values.  So every value is
 * kept until the window fires, which a window of readings can afford (a minute at 5 readings a second per
 * series is 300 doubles).
 */
@FunctionHint(output = @DataTypeHint("ROW<`count` BIGINT, `min` DOUBLE, `max` DOUBLE, mean DOUBLE, p95 DOUBLE>"))
public final class WindowStats extends AggregateFunction<Row, WindowStats.Values> {
    private static final long serialVersionUID = 1L;

    /** The accumulator: the window's values so far, in {@code values[0..size)}. */
    public static final class Values {
        public double[] values = new double[8];
        public int size;

        void add(double value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = value;
        }
    }

    @Override
    public Values createAccumulator() {
        return new Values();
    }

    public void accumulate(Values acc, Double value) {
        if (value != null) {
            acc.add(value);
        }
    }

    public void merge(Values acc, Iterable<Values> others) {
        for (Values other : others) {
            for (int i = 0; i < other.size; i++) {
                acc.add(other.values[i]);
            }
        }
    }

    @Override
    public Row getValue(Values acc) {
        return stats(Arrays.copyOf(acc.values, acc.size));
    }

    static Row stats(double[] values) {
        if (values.length == 0) {
            return null;
        }
        Arrays.sort(values);
        int n = values.length;
        return Row.of((long) n, values[0], values[n - 1], exactSum(values) / n, values[(95 * n + 99) / 100 - 1]);
    }

    /** The sum rounded once, as Python's math.fsum: exact in BigDecimal, then the nearest double. */
    static double exactSum(double[] values) {
        BigDecimal sum = BigDecimal.ZERO;
        for (double value : values) {
            sum = sum.add(new BigDecimal(value));
        }
        return sum.doubleValue();
    }
}
