package dev.shardline.scaling.e2e;

import dev.shardline.flink.kinesis.KinesisStreamsSource;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

import java.util.concurrent.locks.LockSupport;

/**
 * A job whose capacity is known and grows with parallelism: each subtask of "throttle" spends a
 * fixed time per record (parked, so it costs no CPU on a shared machine but still counts as busy).
 *
 * <p>Arguments: stream name, records per second one subtask can process, then aws.* key=value pairs.
 * Records keep their Kinesis arrival time as timestamp, so the source reports currentEmitEventTimeLag.
 */
public final class ThrottledKinesisJob {
    public static void main(String[] args) throws Exception {
        String stream = args[0];
        double perSubtask = Double.parseDouble(args[1]);
        Configuration source = new Configuration();
        source.setString("source.init.position", "TRIM_HORIZON");
        for (int i = 2; i < args.length; i++) {
            String[] kv = args[i].split("=", 2);
            source.setString(kv[0], kv[1]);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.fromSource(KinesisStreamsSource.builder().setStreamName(stream).setSourceConfig(source).build(),
                        WatermarkStrategy.noWatermarks(), "kinesis-source")
                .uid("kinesis-source")
                .rebalance()
                .map(new Throttle((long) (1_000_000_000L / perSubtask)))
                .uid("throttle").name("throttle")
                .sinkTo(new DiscardingSink<>()).uid("discard").name("discard");
        env.execute("shardline-throttled-" + stream);
    }

    /** Costs ``costNanos`` per record. */
    static final class Throttle implements MapFunction<byte[], byte[]> {
        private final long costNanos;
        private transient long next;

        Throttle(long costNanos) {
            this.costNanos = costNanos;
        }

        @Override
        public byte[] map(byte[] value) {
            long now = System.nanoTime();
            next = Math.max(next, now) + costNanos;  // a deadline, so park's overshoot is not added on top
            long wait;
            while ((wait = next - System.nanoTime()) > 0) {
                LockSupport.parkNanos(wait);
            }
            return value;
        }
    }
}
