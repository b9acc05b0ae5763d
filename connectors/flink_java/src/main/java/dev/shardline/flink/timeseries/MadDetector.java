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

    /** The score of {@code value} against {@code history[0..size)} (any order; not changed). */
    static double score(double[] history, int size, double value) {
        double[] scratch = Arrays.copyOf(history, size);
        double median = median(scratch, size);  // selection, not a sort: the same values, in O(n)
        double[] deviations = new double[size];
        for (int i = 0; i < size; i++) {
            deviations[i] = Math.abs(history[i] - median);
        }
        double mad = median(deviations, size);
        if (mad > 0) {
            return CONSISTENCY * (value - median) / mad;
        }
        BigDecimal sum = BigDecimal.ZERO;
        for (int i = 0; i < size; i++) {
            double deviation = Math.abs(history[i] - median);
            sum = sum.add(new BigDecimal(deviation));
        }
        double meanAd = sum.doubleValue() / size;
        if (meanAd > 0) {
            return MEAN_AD_CONSISTENCY * (value - median) / meanAd;
        }
        return value == median ? 0.0 : Math.copySign(Double.POSITIVE_INFINITY, value - median);
    }

    /**
     * The score against values already sorted ({@code sorted[0..n)}): the median by index, the MAD as the
     * k-th smallest of the deviations left and right of the middle, each run sorted already (a binary search,
     * as {@code pipelines.timeseries.detect._median_deviation}), so no value is copied or sorted.
     */
    static double scoreSorted(double[] sorted, int n, double value) {
        int half = n / 2;
        double median = n % 2 == 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2;
        double mad = n % 2 == 1 ? kthDeviation(sorted, n, median, half)
                : (kthDeviation(sorted, n, median, half - 1) + kthDeviation(sorted, n, median, half)) / 2;
        if (mad > 0) {
            return CONSISTENCY * (value - median) / mad;
        }
        return score(sorted, n, value);  // the rare flat series: the mean absolute deviation, as score does
    }

    /** The k-th smallest (0-based) of |v - median|: left deviations read outwards, right ones upwards. */
    private static double kthDeviation(double[] sorted, int n, double median, int k) {
        int half = n / 2;
        int leftLength = half;
        int rightLength = n - half;
        int low = Math.max(0, k + 1 - rightLength);
        int high = Math.min(k + 1, leftLength);
        while (true) {
            int i = (low + high) >>> 1;
            int j = k + 1 - i;
            if (i > 0 && j < rightLength && median - sorted[half - i] > sorted[half + j] - median) {
                high = i - 1;
            } else if (j > 0 && i < leftLength && sorted[half + j - 1] - median > median - sorted[half - 1 - i]) {
                low = i + 1;
            } else {
                double left = i > 0 ? median - sorted[half - i] : Double.NEGATIVE_INFINITY;
                double right = j > 0 ? sorted[half + j - 1] - median : Double.NEGATIVE_INFINITY;
                return Math.max(left, right);
            }
        }
    }

    /** The median of {@code values[0..n)}, which it reorders. */
    static double median(double[] values, int n) {
        int middle = n / 2;
        double upper = select(values, n, middle);
        if (n % 2 == 1) {
            return upper;
        }
        double lower = values[0];  // after select, values[0..middle) hold the smaller ones: the lower is their max
        for (int i = 1; i < middle; i++) {
            lower = Math.max(lower, values[i]);
        }
        return (lower + upper) / 2;
    }

    /** The k-th smallest (0-based) of {@code values[0..n)}, by quickselect; leaves smaller values before k. */
    static double select(double[] values, int n, int k) {
        int low = 0;
        int high = n - 1;
        while (low < high) {
            double pivot = values[(low + high) >>> 1];
            int i = low;
            int j = high;
            while (i <= j) {
                while (values[i] < pivot) {
                    i++;
                }
                while (values[j] > pivot) {
                    j--;
                }
                if (i <= j) {
                    double swap = values[i];
                    values[i++] = values[j];
                    values[j--] = swap;
                }
            }
            if (k <= j) {
                high = j;
            } else if (k >= i) {
                low = i;
            } else {
                return values[k];
            }
        }
        return values[k];
    }
}
