package dev.shardline.flink.timeseries;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

class MadDetectorTest {
    /** What pipelines.timeseries.detect.MadDetector(history=7, min_history=3) scores for these values (repr). */
    private static final double[] VALUES = {10.0, 10.2, 9.9, 10.1, 10.0, 14.0, 10.1, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0,
        7.0, 7.5, 7.0};
    private static final Double[] PYTHON = {null, null, null, 0.6745, -0.337250000000006, 26.980000000000096,
        0.33724999999999405, -20.909500000000072, -20.909500000000072, -20.23500000000007, -0.6745, 0.0, 0.0, 0.0,
        Double.POSITIVE_INFINITY, 0.0};

    @Test
    void scoresAreThePythonDetectorsBitForBit() {
        ArrayDeque<Double> history = new ArrayDeque<>();
        List<Double> scores = new ArrayList<>();
        for (double value : VALUES) {
            double[] before = history.stream().mapToDouble(Double::doubleValue).toArray();
            scores.add(before.length >= 3 ? MadDetector.score(before, before.length, value) : null);
            history.addLast(value);
            if (history.size() > 7) {
                history.removeFirst();
            }
        }
        assertEquals(java.util.Arrays.asList(PYTHON), scores);
    }

    @Test
    void theSortedFormScoresExactlyAsTheSelectingOne() {
        java.util.Random random = new java.util.Random(7);
        for (int n = 1; n < 130; n++) {
            for (int round = 0; round < 20; round++) {
                double[] values = new double[n];
                for (int i = 0; i < n; i++) {
                    values[i] = random.nextBoolean() ? random.nextGaussian() : random.nextInt(4);
                }
                double value = random.nextGaussian() * 5;
                double[] sorted = values.clone();
                java.util.Arrays.sort(sorted);
                assertEquals(MadDetector.score(values, n, value), MadDetector.scoreSorted(sorted, n, value), 0.0,
                        "n=" + n);
            }
        }
    }
}
