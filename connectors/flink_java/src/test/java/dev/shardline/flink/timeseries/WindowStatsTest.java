package dev.shardline.flink.timeseries;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

import java.util.List;

class WindowStatsTest {
    private static Row run(double... values) {
        WindowStats stats = new WindowStats();
        WindowStats.Values first = stats.createAccumulator();
        WindowStats.Values second = stats.createAccumulator();
        for (int i = 0; i < values.length; i++) {
            stats.accumulate(i % 2 == 0 ? first : second, values[i]);  // two slices, merged as a HOP window is
        }
        stats.merge(first, List.of(second));
        return stats.getValue(first);
    }

    @Test
    void theMeanIsTheExactSumRoundedOnceAsPythonsFsum() {
        double[] tenths = new double[10];
        java.util.Arrays.fill(tenths, 0.1);
        assertEquals(0.1, (double) run(tenths).getField(3), 0.0, "a running sum gives 0.09999999999999999");
        double[] cancelling = {1e16, 1.0, -1e16, 3.0, 1e16, 1.0, -1e16, 3.0};
        assertEquals(1.0, (double) run(cancelling).getField(3), 0.0);
    }

    @Test
    void p95IsTheNearestRankAndTheRestAsExpected() {
        double[] values = new double[100];
        for (int i = 0; i < 100; i++) {
            values[i] = 100 - i;
        }
        assertEquals(Row.of(100L, 1.0, 100.0, 50.5, 95.0), run(values));
        assertEquals(Row.of(1L, 7.0, 7.0, 7.0, 7.0), run(7.0));
        assertEquals(19.0, (double) run(new double[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
            19, 20}).getField(4), 0.0, "ceil(0.95 * 20) = 19th of 20");
    }
}
