package dev.shardline.flink.timeseries;

import dev.shardline.flink.envelope.Json;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

import java.util.Arrays;

/**
 * What the time-series pattern does per series before its windows, as a process table function: the steps of
 * {@code pipelines.timeseries.pattern.TimeseriesPattern.on_reading} with Flink's state and timers.
 *
 * <pre>{@code
 * SELECT * FROM series_step(input => TABLE readings PARTITION BY series, on_time => DESCRIPTOR(ts),
 *                           slide_ms => 60000, history => 120, min_history => 20, threshold => 4.5)
 * }</pre>
 *
 * <p>The input has the columns {@code device_id, metric, value, event_ms, raw_payload, site, model,
 * owner_team} and the row time.  For each reading, in arrival order: a reading whose slice (the window's
 * slide) closed under the watermark is {@code late} (the side output, with the watermark it missed); a repeat
 * of an event time the series has in an open slice is a duplicate, dropped; anything else is a {@code
 * reading} (for the windows, with its row time, and the raw store: its {@code raw_payload}) and, unless its
 * series scored a later reading already, waits for the watermark.  A timer at its event time scores it
 * against the series' previous {@code history} scored readings, so readings are scored in event-time order
 * whatever order they came in; an {@code anomaly} row carries the alert's payload (score and threshold, the
 * device's site, model and team).  The Python engines do the same in the same order, and the payloads are
 * those of {@code pipelines.timeseries.outputs}: the three engines agree on the same input.
 */
@FunctionHint(output = @DataTypeHint("ROW<kind STRING, event_ms BIGINT, `value` DOUBLE, payload STRING>"))
public final class SeriesStep extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    static final String SCORE_TIMER = "score";

    /** One series' state; arrays hold {@code [0..count)}. */
    public static class SeriesState {
        /** Event times seen in open slices, ascending: a repeat is a duplicate. */
        public long[] seen = new long[0];
        public int seenCount;
        /** Readings waiting for the watermark: event time and value. */
        public long[] pendingTimes = new long[0];
        public double[] pendingValues = new double[0];
        public int pendingCount;
        /** The detector's last scored values, oldest first (a ring: {@code historyStart} is the oldest). */
        public double[] history = new double[0];
        public int historyCount;
        public int historyStart;
        /** The same values in ascending order, so a score needs no sort. */
        public double[] sorted = new double[0];
        /** The event time of the reading scored last, or null. */
        public Long scoredUntil;
        /** When the scoring timer fires, or null when none is set. */
        public Long timerAt;
        /** The device's metadata as its last reading had it, for alerts. */
        public String site;
        public String model;
        public String ownerTeam;
        public String deviceId;
        public String metric;
        /** The detector's settings, from the call (a timer has no arguments). */
        public int historyLimit;
        public int minHistory;
        public double threshold;
    }

    public void eval(Context ctx, @StateHint(name = "series") SeriesState state,
                     @ArgumentHint(value = {ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME},
                             name = "input") Row reading,
                     @ArgumentHint(name = "slide_ms") Long slideMs, @ArgumentHint(name = "history") Integer history,
                     @ArgumentHint(name = "min_history") Integer minHistory,
                     @ArgumentHint(name = "threshold") Double threshold) {
        state.historyLimit = history;
        state.minHistory = minHistory;
        state.threshold = threshold;
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long eventTime = time.time();
        double value = reading.<Double>getFieldAs("value");
        state.deviceId = reading.getFieldAs("device_id");
        state.metric = reading.getFieldAs("metric");
        Long watermark = time.currentWatermark();
        long sliceEnd = eventTime - Math.floorMod(eventTime, slideMs) + slideMs;
        if (watermark != null) {
            if (sliceEnd - 1 <= watermark) {
                StringBuilder late = new StringBuilder("{\"device_id\":");
                Json.quoteTo(late, state.deviceId, false).append(",\"metric\":");
                Json.quoteTo(late, state.metric, false).append(",\"value\":").append(value).append(",\"event_time\":")
                        .append(eventTime).append(",\"watermark\":").append(watermark).append('}');
                collect(Row.of("late", eventTime, value, late.toString()));
                return;
            }
            forgetClosedSlices(state, slideMs, watermark);
            scoreUpTo(state, watermark);  // what the watermark passed is scored before this reading counts
        }
        if (!remember(state, eventTime)) {
            return;  // a duplicate
        }
        state.site = reading.getFieldAs("site");
        state.model = reading.getFieldAs("model");
        state.ownerTeam = reading.getFieldAs("owner_team");
        collect(Row.of("reading", eventTime, value, reading.<String>getFieldAs("raw_payload")));
        if (state.scoredUntil == null || eventTime > state.scoredUntil) {
            state.pendingTimes = grow(state.pendingTimes, state.pendingCount);
            state.pendingValues = grow(state.pendingValues, state.pendingCount);
            state.pendingTimes[state.pendingCount] = eventTime;
            state.pendingValues[state.pendingCount] = value;
            state.pendingCount++;
            if (state.timerAt == null) {
                // One timer a series, not one a reading: readings that keep coming score the ones before them
                // (above); the timer scores what a series that went quiet left waiting.
                state.timerAt = eventTime;
                time.registerOnTime(SCORE_TIMER, eventTime);
            }
        }
    }

    /** The watermark passed the timer: score the readings up to it, oldest first, and wait for the rest. */
    public void onTimer(OnTimerContext ctx, SeriesState state) {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        Long watermark = time.currentWatermark();
        scoreUpTo(state, watermark == null ? time.time() : Math.max(watermark, time.time()));
        state.timerAt = null;
        long newest = Long.MIN_VALUE;
        for (int i = 0; i < state.pendingCount; i++) {
            newest = Math.max(newest, state.pendingTimes[i]);
        }
        if (state.pendingCount > 0) {
            state.timerAt = newest;
            time.registerOnTime(SCORE_TIMER, newest);
        }
    }

    /** Scores the waiting readings with event times up to {@code until}, in event-time order. */
    private void scoreUpTo(SeriesState state, long until) {
        while (true) {
            int next = -1;
            for (int i = 0; i < state.pendingCount; i++) {
                if (state.pendingTimes[i] <= until && (next < 0 || state.pendingTimes[i] < state.pendingTimes[next])) {
                    next = i;
                }
            }
            if (next < 0) {
                return;
            }
            long eventTime = state.pendingTimes[next];
            double value = state.pendingValues[next];
            int last = --state.pendingCount;
            state.pendingTimes[next] = state.pendingTimes[last];
            state.pendingValues[next] = state.pendingValues[last];
            score(state, eventTime, value);
        }
    }

    private void score(SeriesState state, long eventTime, double value) {
        state.scoredUntil = eventTime;
        if (state.historyCount >= state.minHistory) {
            double score = MadDetector.scoreSorted(state.sorted, state.historyCount, value);
            if (Math.abs(score) > state.threshold) {
                collect(Row.of("anomaly", eventTime, value, alert(state, eventTime, value, score)));
            }
        }
        if (state.history.length != state.historyLimit) {
            state.history = Arrays.copyOf(ordered(state), state.historyLimit);
            state.historyStart = 0;
        }
        if (state.sorted.length != state.historyLimit) {
            double[] values = Arrays.copyOf(state.sorted, state.historyLimit);
            Arrays.sort(values, 0, Math.min(state.historyCount, state.historyLimit));
            state.sorted = values;
        }
        if (state.historyCount < state.historyLimit) {
            state.history[(state.historyStart + state.historyCount) % state.historyLimit] = value;
            insertSorted(state.sorted, state.historyCount++, value);
        } else {  // the ring is full: the newest takes the oldest's place
            removeSorted(state.sorted, state.historyCount, state.history[state.historyStart]);
            insertSorted(state.sorted, state.historyCount - 1, value);
            state.history[state.historyStart] = value;
            state.historyStart = (state.historyStart + 1) % state.historyLimit;
        }
    }

    /** The alert's payload: {@code pipelines.timeseries.outputs.anomaly_record}'s, score rounded as Python's round(score, 6). */
    static String alert(SeriesState state, long eventTime, double value, double score) {
        StringBuilder out = new StringBuilder("{\"kind\":\"anomaly\",\"series\":");
        Json.quoteTo(out, state.deviceId + "/" + state.metric, false);
        out.append(",\"event_time\":").append(eventTime).append(",\"value\":").append(value).append(",\"score\":")
                .append(round6(score)).append(",\"threshold\":").append(state.threshold)
                .append(",\"detector\":\"mad\"");
        String[][] device = {{"site", state.site}, {"model", state.model}, {"owner_team", state.ownerTeam}};
        for (String[] field : device) {
            out.append(",\"").append(field[0]).append("\":");
            if (field[1] == null) {
                out.append("null");
            } else {
                Json.quoteTo(out, field[1], false);
            }
        }
        return out.append('}').toString();
    }

    /** Python's round(x, 6): the exact binary value rounded half-even to 6 decimals, then the nearest double. */
    static String round6(double score) {
        if (Double.isInfinite(score)) {
            return score > 0 ? "Infinity" : "-Infinity";
        }
        return Double.toString(new java.math.BigDecimal(score).setScale(6, java.math.RoundingMode.HALF_EVEN)
                .doubleValue());
    }

    private static void insertSorted(double[] sorted, int count, double value) {
        int at = Arrays.binarySearch(sorted, 0, count, value);
        at = at < 0 ? -at - 1 : at;
        System.arraycopy(sorted, at, sorted, at + 1, count - at);
        sorted[at] = value;
    }

    private static void removeSorted(double[] sorted, int count, double value) {
        int at = Arrays.binarySearch(sorted, 0, count, value);
        System.arraycopy(sorted, at + 1, sorted, at, count - at - 1);
    }

    private static double[] ordered(SeriesState state) {
        double[] out = new double[state.historyCount];
        for (int i = 0; i < state.historyCount; i++) {
            out[i] = state.history[(state.historyStart + i) % Math.max(1, state.history.length)];
        }
        return out;
    }

    /** Adds {@code eventTime} to the seen times; false when it was there (a duplicate). */
    private static boolean remember(SeriesState state, long eventTime) {
        int at = Arrays.binarySearch(state.seen, 0, state.seenCount, eventTime);
        if (at >= 0) {
            return false;
        }
        int insert = -at - 1;
        state.seen = grow(state.seen, state.seenCount);
        System.arraycopy(state.seen, insert, state.seen, insert + 1, state.seenCount - insert);
        state.seen[insert] = eventTime;
        state.seenCount++;
        return true;
    }

    /** Drops the seen times of slices the watermark closed: a repeat of them is late, not a duplicate. */
    private static void forgetClosedSlices(SeriesState state, long slideMs, long watermark) {
        int keep = 0;
        while (keep < state.seenCount) {
            long t = state.seen[keep];
            if (t - Math.floorMod(t, slideMs) + slideMs - 1 > watermark) {
                break;
            }
            keep++;
        }
        if (keep > 0) {
            System.arraycopy(state.seen, keep, state.seen, 0, state.seenCount - keep);
            state.seenCount -= keep;
        }
    }

    private static long[] grow(long[] array, int count) {
        return count < array.length ? array : Arrays.copyOf(array, Math.max(8, array.length * 2));
    }

    private static double[] grow(double[] array, int count) {
        return count < array.length ? array : Arrays.copyOf(array, Math.max(8, array.length * 2));
    }
}
