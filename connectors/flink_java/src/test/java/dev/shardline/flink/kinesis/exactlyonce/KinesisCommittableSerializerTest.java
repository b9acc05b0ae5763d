package dev.shardline.flink.kinesis.exactlyonce;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KinesisCommittableSerializerTest {

    @Test
    void aCommittableSurvivesTheRoundTripRecordForRecord() throws IOException {
        byte[] binary = {0, -1, 127, -128, 10};
        KinesisCommittable committable = KinesisCommittable.builder(3, 1_767_225_600_123L)
                .add("key-é", "first".getBytes(StandardCharsets.UTF_8)).add("k", binary).add("k", new byte[0])
                .add("k".repeat(256), new byte[70_000]).build();
        KinesisCommittableSerializer serializer = new KinesisCommittableSerializer();

        KinesisCommittable back = serializer.deserialize(serializer.getVersion(), serializer.serialize(committable));

        assertEquals(3, back.subtask());
        assertEquals(1_767_225_600_123L, back.createdAtMillis());
        assertEquals(4, back.entries().size());
        for (int i = 0; i < 4; i++) {
            assertEquals(committable.entries().get(i).partitionKey(), back.entries().get(i).partitionKey());
            assertArrayEquals(committable.entries().get(i).data(), back.entries().get(i).data());
        }
    }

    @Test
    void anUnknownVersionIsRefusedWithAnExplanation() {
        IOException error = assertThrows(IOException.class,
                () -> new KinesisCommittableSerializer().deserialize(2, new byte[16]));
        assertTrue(error.getMessage().contains("version 2"));
    }

    @Test
    void itsTextNamesNoRecordContents() {
        String text = KinesisCommittable.builder(0, 1).add("user@example.com", "secret".getBytes()).build().toString();
        assertFalse(text.contains("user@example.com") || text.contains("secret"), text);
        assertTrue(text.contains("records=1"), text);
    }
}
