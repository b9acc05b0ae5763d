package dev.shardline.flink.kinesis.table;

import org.apache.flink.table.api.ValidationException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KinesisDynamicTableFactoryTest {

    @Test
    void initialTimestampsInTheTablesFormatOrEpochSecondsReachTheSourceAsEpochSeconds() {
        assertEquals("1767225600.000",
                KinesisDynamicTableFactory.epochSeconds("2026-01-01T00:00:00.000Z", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"));
        assertEquals("1767225600", KinesisDynamicTableFactory.epochSeconds("1767225600", "ignored"));
        ValidationException bad = assertThrows(ValidationException.class,
                () -> KinesisDynamicTableFactory.epochSeconds("yesterday", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"));
        assertTrue(bad.getMessage().contains("source.init.timestamp"));
    }

    @Test
    void theIdentifierSitsBesideTheOfficialOne() {
        assertEquals("shardline-kinesis", new KinesisDynamicTableFactory().factoryIdentifier());
        assertTrue(new KinesisDynamicTableFactory().requiredOptions().contains(KinesisDynamicTableFactory.STREAM_ARN));
    }
}
