package dev.shardline.flink.kinesis.exactlyonce;

import dev.shardline.flink.kinesis.KinesisStreamsSink;

import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.api.java.tuple.Tuple2;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointBufferWriterTest {
    /** Only the subtask index is read from the context. */
    private static WriterInitContext subtask(int index) {
        TaskInfo task = (TaskInfo) Proxy.newProxyInstance(TaskInfo.class.getClassLoader(), new Class<?>[] {TaskInfo.class},
                (proxy, method, args) -> method.getName().equals("getIndexOfThisSubtask") ? index : null);
        return (WriterInitContext) Proxy.newProxyInstance(WriterInitContext.class.getClassLoader(),
                new Class<?>[] {WriterInitContext.class},
                (proxy, method, args) -> method.getName().equals("getTaskInfo") ? task : null);
    }

    private static CheckpointBufferWriter<Tuple2<String, byte[]>> writer(long[] clock) {
        return new CheckpointBufferWriter<>(new KinesisStreamsSink.KeyedBytes<>(), subtask(2), () -> clock[0]);
    }

    @Test
    void eachCheckpointGetsTheRecordsWrittenSinceThePreviousOne() {
        long[] clock = {100};
        var writer = writer(clock);
        writer.write(Tuple2.of("a", new byte[] {1}), null);
        writer.write(Tuple2.of("b", new byte[] {2}), null);
        writer.flush(false);
        clock[0] = 200;
        KinesisCommittable first = writer.prepareCommit().iterator().next();
        assertEquals(2, first.entries().size());
        assertEquals(2, first.subtask());
        assertEquals(200, first.createdAtMillis());
        assertTrue(writer.prepareCommit().isEmpty(), "nothing new: no committable");
        writer.write(Tuple2.of("c", new byte[] {3}), null);
        assertEquals("c", writer.prepareCommit().iterator().next().entries().get(0).partitionKey());
    }

    @Test
    void recordsKinesisWouldRefuseFailBeforeTheirCheckpoint() {
        var writer = writer(new long[] {0});
        assertThrows(IllegalArgumentException.class, () -> writer.write(Tuple2.of("", new byte[1]), null));
        assertThrows(IllegalArgumentException.class, () -> writer.write(Tuple2.of("k".repeat(257), new byte[1]), null));
        assertThrows(IllegalArgumentException.class,
                () -> writer.write(Tuple2.of("k", new byte[1024 * 1024]), null));
        assertEquals(List.of(), List.copyOf(writer.prepareCommit()));
    }
}
