package dev.shardline.flink.kinesis;

import org.apache.flink.api.connector.source.ReaderInfo;
import org.apache.flink.api.connector.source.mocks.MockSplitEnumeratorContext;
import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.services.kinesis.model.Shard;

import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KinesisShardEnumeratorTest {
    // p0 and p1 merged into c2; c3 appears later as c2's only child.
    private static final List<Shard> RESHARDED = List.of(shard("p0"), shard("p1"), shard("c2", "p0", "p1"));

    private static Shard shard(String id, String... parents) {
        return Shard.builder().shardId(id).parentShardId(parents.length > 0 ? parents[0] : null)
                .adjacentParentShardId(parents.length > 1 ? parents[1] : null).build();
    }

    private static Configuration config(boolean bounded) {
        Configuration config = new Configuration();
        config.set(KinesisOptions.STREAM_INITIAL_POSITION, KinesisOptions.InitialPosition.LATEST);
        config.set(KinesisOptions.SOURCE_BOUNDED, bounded);
        return config;
    }

    private static MockSplitEnumeratorContext<KinesisShardSplit> context() {
        MockSplitEnumeratorContext<KinesisShardSplit> context = new MockSplitEnumeratorContext<>(1);
        context.registerReader(new ReaderInfo(0, "localhost"));
        return context;
    }

    /** "shard@position" of every assignment so far, in order. */
    private static List<String> assigned(MockSplitEnumeratorContext<KinesisShardSplit> context) {
        return context.getSplitsAssignmentSequence().stream()
                .flatMap(a -> a.assignment().values().stream()).flatMap(List::stream)
                .map(s -> s.shardId + "@" + s.position).collect(Collectors.toList());
    }

    @Test
    void childIsAssignedOnlyAfterAllItsParentsFinished() throws Exception {
        try (var context = context()) {
            var enumerator = new KinesisShardEnumerator(context, "s", config(false), null);
            enumerator.onShardsListed(RESHARDED, null);
            assertEquals(List.of("p0@LATEST", "p1@LATEST"), assigned(context));

            enumerator.handleSourceEvent(0, new SplitsFinishedEvent(Set.of("p0")));
            assertEquals(2, assigned(context).size());
            enumerator.handleSourceEvent(0, new SplitsFinishedEvent(Set.of("p1")));
            // c2 was there at the first discovery: it starts at the configured position too.
            assertEquals(List.of("p0@LATEST", "p1@LATEST", "c2@LATEST"), assigned(context));
        }
    }

    @Test
    void shardsFoundAfterTheFirstDiscoveryStartAtTrimHorizon() throws Exception {
        try (var context = context()) {
            var enumerator = new KinesisShardEnumerator(context, "s", config(false), null);
            enumerator.onShardsListed(List.of(shard("c2")), null);
            enumerator.onShardsListed(List.of(shard("c2"), shard("c3", "c2")), null);
            assertEquals(List.of("c2@LATEST"), assigned(context));
            enumerator.handleSourceEvent(0, new SplitsFinishedEvent(Set.of("c2")));
            assertEquals(List.of("c2@LATEST", "c3@TRIM_HORIZON"), assigned(context));
        }
    }

    @Test
    void parentsGoneFromTheListingDoNotBlockTheirChildren() throws Exception {
        try (var context = context()) {
            var enumerator = new KinesisShardEnumerator(context, "s", config(false), null);
            enumerator.onShardsListed(List.of(shard("c2", "p0", "p1")), null);  // parents past retention
            assertEquals(List.of("c2@LATEST"), assigned(context));
        }
    }

    @Test
    void boundedReadEndsWhenEveryShardFoundAtStartHasFinished() throws Exception {
        try (var context = context()) {
            var enumerator = new KinesisShardEnumerator(context, "s", config(true), null);
            enumerator.onShardsListed(RESHARDED, null);
            enumerator.handleSourceEvent(0, new SplitsFinishedEvent(Set.of("p0", "p1")));
            enumerator.onShardsListed(List.of(shard("c3", "c2")), null);  // ignored: after the start
            assertFalse(context.hasNoMoreSplits(0));
            enumerator.handleSourceEvent(0, new SplitsFinishedEvent(Set.of("c2")));
            assertTrue(context.hasNoMoreSplits(0));
            assertEquals(3, assigned(context).size());
        }
    }

    @Test
    void restoredEnumeratorKeepsAssignmentsAndTheWaitingChildsPosition() throws Exception {
        KinesisShardEnumerator.State state;
        try (var context = context()) {
            var enumerator = new KinesisShardEnumerator(context, "s", config(false), null);
            enumerator.onShardsListed(RESHARDED, null);
            enumerator.handleSourceEvent(0, new SplitsFinishedEvent(Set.of("p0")));
            var serializer = new KinesisShardEnumerator.StateSerializer();
            state = serializer.deserialize(serializer.getVersion(), serializer.serialize(enumerator.snapshotState(7)));
        }
        assertEquals(Set.of("p0", "p1"), state.assigned);
        assertEquals(Set.of("p0"), state.finished);
        try (var context = context()) {
            var enumerator = new KinesisShardEnumerator(context, "s", config(false), state);
            enumerator.onShardsListed(RESHARDED, null);
            assertEquals(List.of(), assigned(context));  // p0/p1 stay with the readers that hold them
            enumerator.handleSourceEvent(0, new SplitsFinishedEvent(Set.of("p1")));
            assertEquals(List.of("c2@LATEST"), assigned(context));  // not TRIM_HORIZON: its position was kept
        }
    }

    @Test
    void splitsOfAFailedReaderAreAssignedAgain() throws Exception {
        try (var context = context()) {
            var enumerator = new KinesisShardEnumerator(context, "s", config(false), null);
            enumerator.onShardsListed(List.of(shard("p0")), null);
            KinesisShardSplit resumed = KinesisShardSplit.of("p0", List.of(), "LATEST", null).resumeAfter("42");
            enumerator.addSplitsBack(List.of(resumed), 0);
            enumerator.addReader(0);
            assertEquals(List.of("p0@LATEST", "p0@AFTER_SEQUENCE_NUMBER"), assigned(context));
        }
    }

    @Test
    void initialTimestampIsIsoOrEpochSeconds() {
        assertEquals(1_700_000_000_500L, KinesisShardEnumerator.parseTimestamp("1700000000.5").toEpochMilli());
        assertEquals(1_700_000_000_000L, KinesisShardEnumerator.parseTimestamp("2023-11-14T22:13:20Z").toEpochMilli());
        assertThrows(IllegalArgumentException.class, () -> KinesisShardEnumerator.parseTimestamp("yesterday"));
    }
}
