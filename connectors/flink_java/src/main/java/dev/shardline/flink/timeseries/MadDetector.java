package dev.shardline.flink.timeseries;

import java.math.BigDecimal;
import java.util.Arrays;

/**
 * The modified z-score of {@code pipelines.timeseries.detect.MadDetector}, computed the same way, operation for
 * operation, so both engines give a reading the same score: {@code 0.6745 (x - median) / MAD} over the values
 * before it; when the MAD is 0, the mean absolute deviation (summed exactly, as fsum) scaled by 0.7979; when
 * that is 0 too, 0 for the median itself and an infinity for anything else.
 */
final class MadDetector {
    static final double CONSISTENCY = 0.6745;
    static final double MEAN_AD_CONSISTENCY = 0.7979;

    private MadDetector() {}

    /** The score of {@code value} against {@code history[0..size)} (any order). */
    static double score(double[] history, int size, double value) {
        double[] sorted = Arrays.copyOf(history, size);
        Arrays.sort(sorted);
        double median = median(sorted);
        double[] deviations = new double[size];
        for (int i = 0; i < size; i++) {
            deviations[i] = Math.abs(sorted[i] - median);
        }
        Arrays.sort(deviations);
        double mad = median(deviations);
        if (mad > 0) {
            return CONSISTENCY * (value - median) / mad;
        }
        BigDecimal sum = BigDecimal.ZERO;
        for (double deviation : deviations) {
            sum = sum.add(new BigDecimal(deviation));
        }
        double meanAd = sum.doubleValue() / size;
        if (meanAd > 0) {
            return MEAN_AD_CONSISTENCY * (value - median) / meanAd;
        }
        return value == median ? 0.0 : Math.copySign(Double.POSITIVE_INFINITY, value - median);
    }

    static double median(double[] sorted) {
        int middle = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
